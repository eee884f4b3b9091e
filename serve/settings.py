"""Service settings from ``AUTOQUOTE_*`` environment variables, built once by :func:`get_settings`."""

from __future__ import annotations

import os
import secrets
from dataclasses import fields
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.image_io import ImageLimits
from model.pipeline import PipelineConfig
from model.quality import QualityThresholds
from model.store import store_in


class Settings(BaseSettings):
    """Everything a deployment may change; unsafe combinations are refused at start-up."""

    model_config = SettingsConfigDict(env_prefix="AUTOQUOTE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset")
    migrate_on_start: bool = True
    detector_path: Path | None = None
    severity_path: Path | None = None
    ort_threads: int | None = Field(default=None, ge=1)
    # Learning loop: the model registry folder (promotions and shadows must come from it) and a candidate
    # that runs in shadow on live claims (its quotes are stored, never used).
    registry_dir: Path | None = Field(default=None, description="model registry; data_dir/registry if unset")
    shadow_detector_path: Path | None = None
    shadow_severity_path: Path | None = None
    # Photo store: the local folder (data_dir/photos) or an S3-compatible bucket shared by several replicas.
    photo_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_prefix: str = Field(default="photos/", description="key prefix inside the bucket")
    s3_endpoint_url: str | None = Field(default=None, description="unset for AWS; the URL of MinIO, Ceph, ...")
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = Field(default=None, description="unset: boto3's usual credential chain")
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = "path"
    # Several replicas: how often each checks the database for a promotion made on another one.
    model_poll_seconds: float = Field(default=2.0, gt=0)
    # /metrics needs an admin key; a scraper without one reads this separate listener instead (one per worker).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Bad-input limits.
    max_photo_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=80 * 1024 * 1024, gt=0, description="per request to a photo upload route")
    max_json_bytes: int = Field(default=1024 * 1024, gt=0, description="per request to every other route")
    # Wrong API keys one client may send per minute (per worker) before it gets 429; 0 turns the throttle off.
    auth_failures_per_minute: int = Field(default=10, ge=0)
    max_pixels: int = Field(default=50_000_000, gt=0)
    # PNG, WebP and HEIF decode every pixel before resizing (JPEG decodes at reduced size): a lower limit.
    max_full_decode_pixels: int = Field(default=24_000_000, gt=0)
    max_request_pixels: int = Field(default=150_000_000, gt=0, description="pixels of all photos of one request")
    max_concurrent_decodes: int = Field(default=2, ge=1, description="photos decoding at once per process")
    decode_wait_seconds: float = Field(default=30.0, gt=0, description="wait for a decode slot, then 429")
    decoded_cache_mb: int = Field(default=128, ge=0, description="photos kept decoded at working scale")
    max_photos_per_claim: int = Field(default=12, gt=0)
    max_photos_per_quote: int = Field(default=6, gt=0)
    decode_factor: float = Field(default=1.0, ge=1.0, le=8.0)
    # The customer page scales photos to this long side (JPEG) before upload: ~0.4 MB instead of ~3 MB.
    upload_long_side: int = Field(default=1600, ge=640, le=8192)
    # Photo-quality thresholds: declared (defaults and bounds) once, in model.quality.QualityThresholds.
    min_brightness: float = QualityThresholds.min_brightness
    max_brightness: float = QualityThresholds.max_brightness
    min_sharpness: float = QualityThresholds.min_sharpness
    min_side: int = QualityThresholds.min_side
    # Keys the blind-review and audit draws (HMAC of the claim id); never change it while evidence is collected.
    # Unset: a random one generated once in data_dir/autonomy.secret (replicas must share one: set it).
    autonomy_secret: SecretStr | None = Field(default=None, description="at least 16 bytes, random")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.max_photo_bytes > self.max_request_bytes:
            raise ValueError("AUTOQUOTE_MAX_PHOTO_BYTES must not exceed AUTOQUOTE_MAX_REQUEST_BYTES")
        if self.photo_store == "s3" and not self.s3_bucket:
            raise ValueError("AUTOQUOTE_PHOTO_STORE=s3 needs AUTOQUOTE_S3_BUCKET")
        if self.environment == "production" and self.database_url is None:
            raise ValueError(
                "set AUTOQUOTE_DATABASE_URL in production; the SQLite default is for one machine"
            )
        if self.autonomy_secret is not None and len(self.autonomy_secret.get_secret_value().encode()) < 16:
            raise ValueError(
                "AUTOQUOTE_AUTONOMY_SECRET must have at least 16 bytes; use a random one (openssl rand -hex 32)"
            )
        return self

    def draw_secret(self) -> bytes:
        """The key of the blind-review and audit draws: the setting, else the one kept in the data folder
        (generated on first use, readable by this user only)."""
        if self.autonomy_secret is not None:
            return self.autonomy_secret.get_secret_value().encode()
        path = self.data_dir / "autonomy.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker wrote it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
        secret = path.read_text().strip().encode()
        if len(secret) < 16:
            raise ValueError(
                f"{path.name} in the data folder holds under 16 bytes; delete it or set AUTOQUOTE_AUTONOMY_SECRET"
            )
        return secret

    @property
    def db_url(self) -> str:
        """The database URL in use (a SQLite file in ``data_dir`` unless one is given)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'autoquote.db').as_posix()}"

    @property
    def photos_dir(self) -> Path:
        return self.data_dir / "photos"

    @property
    def models_dir(self) -> Path:
        """The model registry folder."""
        return self.registry_dir if self.registry_dir is not None else store_in(self.data_dir)

    def image_limits(self) -> ImageLimits:
        """What one photo may weigh, from these settings."""
        return ImageLimits(
            max_bytes=self.max_photo_bytes,
            max_pixels=self.max_pixels,
            max_full_decode_pixels=min(self.max_full_decode_pixels, self.max_pixels),
        )

    def pipeline_config(self) -> PipelineConfig:
        """The pipeline's limits and thresholds from these settings."""
        return PipelineConfig(
            limits=self.image_limits(),
            # Each threshold is the setting of the same name.
            quality=QualityThresholds(**{f.name: getattr(self, f.name) for f in fields(QualityThresholds)}),
            decode_factor=self.decode_factor,
        )


def get_settings() -> Settings:
    """Read the settings from the environment (and nothing else)."""
    return Settings()
