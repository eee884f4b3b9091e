"""/v1/quote: photos in, quote out, in one request; nothing is stored (quick in-app estimates)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from model.declared import parse_declared
from model.findings import ClaimContext
from model.pipeline import PhotoInput
from model.vocabulary import JURISDICTION_PATTERN, REGION_PATTERN, Segment
from serve.deps import DecoderDep, MetricsDep, PipelineDep, PrincipalDep, SettingsDep
from serve.errors import TooManyPhotos
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES
from serve.http.locale import LocaleDep
from serve.http.schemas import QuoteOut, unsaved_quote_out
from serve.photos.uploads import decode_uploads

router = APIRouter(
    prefix="/v1", tags=["quote"], route_class=AccessRoute, dependencies=[allow()], responses=ERROR_RESPONSES
)


@router.post("/quote", response_model=QuoteOut)
def quote_photos(
    files: Annotated[list[UploadFile], File(description="one or more JPEG, PNG, WebP or HEIC photos")],
    principal: PrincipalDep,
    pipeline: PipelineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    decoder: DecoderDep,
    locale: LocaleDep,
    response: Response,
    region: Annotated[str, Form(pattern=REGION_PATTERN)] = "CN",
    segment: Annotated[Segment, Form()] = "mid",
    jurisdiction: Annotated[str | None, Form(pattern=JURISDICTION_PATTERN)] = None,
    declared_parts: Annotated[
        list[str] | None,
        Form(
            max_length=20,
            description="repeated: a part the customer says is damaged, as the vocabulary spells it (any case), "
            "optionally with a side: Door, Door:left; the photos are wide shots",
        ),
    ] = None,
) -> QuoteOut:
    """Quote photos at once; nothing is stored or compared with claims. Photo ids are 1, 2, ... in order. With
    declared parts, each is checked against the photos and only confirmed parts are priced."""
    if len(files) > settings.max_photos_per_quote:
        raise TooManyPhotos(
            f"a one-shot quote takes at most {settings.max_photos_per_quote} photos; "
            "open a claim for more (POST /v1/claims)"
        )
    context = ClaimContext(segment=segment, region=region.upper())
    pipeline.check_context(context, jurisdiction)
    declared = parse_declared(declared_parts or (), pipeline.parts)
    t0 = time.perf_counter()
    decoded = decode_uploads(files, pipeline, decoder, settings.max_photo_bytes)
    t1 = time.perf_counter()
    inputs = [
        # No duplicate check: a one-shot answer must not tell anyone whether a photo exists in a claim.
        PhotoInput(str(i), image)
        for i, (_data, image, _name) in enumerate(decoded, start=1)
    ]
    quote = pipeline.quote(inputs, context, jurisdiction, declared)
    stages = {"decode": (t1 - t0) * 1e3, **quote.timings_ms, "handler": (time.perf_counter() - t0) * 1e3}
    # Where the time went, for browsers' developer tools and benchmarks/bench_http.py.
    response.headers["Server-Timing"] = ", ".join(f"{k};dur={v:.1f}" for k, v in stages.items())
    metrics.decisions.labels(quote.decision.outcome, "one_shot").inc()
    for stage in quote.failed_stages:
        metrics.model_errors.labels(stage).inc()
    return unsaved_quote_out(quote, locale)
