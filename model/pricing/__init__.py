"""Pricing: the versioned catalogue, the deterministic estimator and the learned cost head."""

from model.pricing.catalogue import Catalogue, load_catalogue
from model.pricing.cost_head import CostHead
from model.pricing.estimator import Estimator
from model.pricing.pricer import Pricer, load_pricer

__all__ = ["Catalogue", "CostHead", "Estimator", "Pricer", "load_catalogue", "load_pricer"]
