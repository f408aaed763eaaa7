"""Build the valuation machinery from configuration: venues, FX source, rules, the valuer."""

from __future__ import annotations

from sqlalchemy import Engine

from sequestra.config import PricingSettings, Settings
from sequestra.errors import ConfigurationError
from sequestra.fairvalue import AggregationRules
from sequestra.ledger.keys import SigningKey, load_signing_key, resolve_passphrase
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules
from sequestra.pricing.fx import FixedRate, FxSource, NationalBankRates
from sequestra.pricing.run import Valuer
from sequestra.pricing.venues import CcxtVenue


def aggregation_rules(pricing: PricingSettings) -> AggregationRules:
    return AggregationRules(
        price_type=pricing.price_type,
        age_s_max=pricing.age_s_max,
        mad_k=pricing.mad_k,
        sources_min=pricing.sources_min,
        pegs=dict(pricing.pegs),
        accessible=None
        if pricing.accessible_venues is None
        else frozenset(pricing.accessible_venues),
        deviation_max=pricing.deviation_max,
    )


def fx_source(pricing: PricingSettings) -> FxSource:
    """The configured USD/KZT source; raises ValueError for a fixed source without a rate."""
    if pricing.fx_source == "fixed":
        if pricing.fx_fixed_rate is None:
            raise ConfigurationError(
                "pricing.fx_fixed_rate: expected a rate for fx_source = fixed, got none"
            )
        return FixedRate(pricing.fx_fixed_rate)
    return NationalBankRates(pricing.fx_url, pricing.fx_timeout_s)


def venues(pricing: PricingSettings) -> list[CcxtVenue]:
    return [
        CcxtVenue(
            venue.id,
            venue.timeout_ms,
            venue.api_urls,
            venue.options,
            venue.api_base_url,
            venue.rate_limit_ms,
        )
        for venue in pricing.venues
    ]


def open_valuer(settings: Settings, engine: Engine, rule_set: RuleSet, key: SigningKey) -> Valuer:
    ledger = settings.ledger
    return Valuer(
        engine,
        rule_set,
        venues(settings.pricing),
        fx_source(settings.pricing),
        key,
        aggregation_rules(settings.pricing),
        AppendRules(ledger.clock_skew_s_max, ledger.statement_age_s_max),
        settings.pricing.pairs,
    )


def valuer_key(pricing: PricingSettings) -> SigningKey:
    """The valuer's key from `pricing.key_file`; raises ValueError when none is set."""
    if pricing.key_file is None:
        raise ConfigurationError(
            "pricing.key_file: expected the valuer's key file (role valuer), got none"
        )
    return load_signing_key(pricing.key_file, resolve_passphrase(pricing.passphrase_file))
