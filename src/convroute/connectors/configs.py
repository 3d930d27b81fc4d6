"""Validation of each connector's config, when a route is created or changed (pure: no
network; the simulated connector's scenario file is read to check it)."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from convroute.domain.errors import ValidationError

TEMPLATE_FIELDS = (
    "message_id",
    "src",
    "dst",
    "dst_digits",
    "text",
    "country",
    "client_ref",
)
DEFAULT_FIELDS = {"from": "{src}", "to": "{dst}", "text": "{text}", "reference": "{message_id}"}

Check = Callable[[Mapping[str, Any]], dict[str, Any]]

_HTTP_KEYS = {"url", "method", "body", "fields", "headers", "basic_auth", "timeout_s"}
_SIM_KEYS = {"scenario", "route", "seed", "speed", "epoch_ms"}


def _bad(key: str, problem: str) -> ValidationError:
    return ValidationError.field(f"config.{key}", problem)


def _unknown(config: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(config) - known)
    if extra:
        raise _bad(extra[0], f"is not a known key (known: {', '.join(sorted(known))})")


def check_template(key: str, template: Any) -> None:
    """A field template: text with ``{name}`` placeholders from ``TEMPLATE_FIELDS``."""
    if not isinstance(template, str):
        raise _bad(key, "must be a string")
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
    except ValueError as exc:
        raise _bad(key, f"is not a valid template: {exc}") from None
    for name in names:
        if name not in TEMPLATE_FIELDS:
            raise _bad(key, f"{{{name}}} is not one of {', '.join(TEMPLATE_FIELDS)}")


def check_http(config: Mapping[str, Any]) -> dict[str, Any]:
    """``url`` (required, http or https), ``method`` (POST or PUT), ``body`` (json or form),
    ``fields`` (name -> template), ``headers``, ``basic_auth`` (``user:password``),
    ``timeout_s``."""
    _unknown(config, _HTTP_KEYS)
    url = config.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise _bad("url", "is required: the provider's send URL (http:// or https://)")
    if not urlsplit(url).netloc:
        raise _bad("url", "has no host")
    if config.get("method", "POST") not in ("POST", "PUT"):
        raise _bad("method", "must be POST or PUT")
    if config.get("body", "json") not in ("json", "form"):
        raise _bad("body", "must be json or form")
    fields = config.get("fields", DEFAULT_FIELDS)
    if not isinstance(fields, Mapping) or not fields:
        raise _bad("fields", "must be an object of field name -> template")
    for name, template in fields.items():
        check_template(f"fields.{name}", template)
    headers = config.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _bad("headers", "must be an object of header name -> string")
    auth = config.get("basic_auth")
    if auth is not None and (not isinstance(auth, str) or ":" not in auth):
        raise _bad("basic_auth", "must be user:password")
    timeout = config.get("timeout_s", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise _bad("timeout_s", "must be a number of seconds from 0 to 60")
    return dict(config)


def check_simulated(config: Mapping[str, Any]) -> dict[str, Any]:
    """``scenario`` (a scenario file; without one the route accepts messages and sends no
    receipt), ``route`` (its name in the scenario; default: the route's name), ``seed``,
    ``speed`` (scenario seconds per real second), ``epoch_ms`` (when scenario time 0 was)."""
    _unknown(config, _SIM_KEYS)
    out = dict(config)
    if "scenario" in config:
        from convroute.sim.scenario import ScenarioError, load

        path = config["scenario"]
        if not isinstance(path, str):
            raise _bad("scenario", "must be a file path")
        try:
            scenario = load(path)
        except (OSError, ScenarioError) as exc:
            raise _bad("scenario", f"cannot be used: {exc}") from None
        route = config.get("route")
        if route is not None and route not in {r.name for r in scenario.routes}:
            raise _bad("route", f"{route!r} is not a route of {scenario.name}")
        out["scenario"] = str(Path(path).resolve())
    for key, low in (("seed", 0), ("epoch_ms", 0)):
        value = config.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            raise _bad(key, "must be a whole number >= 0")
    speed = config.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed <= 10_000:
        raise _bad("speed", "must be a number from 0 to 10000")
    return out


_SMPP_KEYS = {
    "host", "port", "system_id", "password", "system_type", "bind", "tls", "tls_verify",
    "window", "enquire_link_s", "submit_timeout_s", "connect_timeout_s", "throttle_max_s",
    "reconnect_max_s",
}  # fmt: skip


def _number(config: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = config.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(key, f"must be a number from {low:g} to {high:g}")


def check_smpp(config: Mapping[str, Any]) -> dict[str, Any]:
    """``host``, ``port``, ``system_id`` (at most 15 characters), ``password`` (at most 8),
    ``system_type`` (at most 12), ``bind`` (``transceiver`` or ``transmitter_receiver``),
    ``tls``, ``tls_verify``, ``window`` (submits in flight), ``enquire_link_s``,
    ``submit_timeout_s``, ``connect_timeout_s``, ``throttle_max_s``, ``reconnect_max_s``."""
    _unknown(config, _SMPP_KEYS)
    host = config.get("host")
    if not isinstance(host, str) or not host.strip():
        raise _bad("host", "is required: the SMSC's host name or address")
    port = config.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _bad("port", "is required: a TCP port from 1 to 65535")
    for key, most, required in (
        ("system_id", 15, True),
        ("password", 8, True),
        ("system_type", 12, False),
    ):
        value = config.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, str) or (required and not value) or len(value) > most:
            raise _bad(key, f"must be a string of at most {most} characters (SMPP 3.4)")
    if config.get("bind", "transceiver") not in ("transceiver", "transmitter_receiver"):
        raise _bad("bind", "must be transceiver or transmitter_receiver")
    for key in ("tls", "tls_verify"):
        if not isinstance(config.get(key, False), bool):
            raise _bad(key, "must be true or false")
    window = config.get("window", 10)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 1000:
        raise _bad("window", "must be a whole number from 1 to 1000")
    _number(config, "enquire_link_s", 1, 3600)
    for key in ("submit_timeout_s", "connect_timeout_s", "throttle_max_s", "reconnect_max_s"):
        _number(config, key, 0.1, 600)
    return dict(config)


def _url(config: Mapping[str, Any], key: str) -> None:
    value = config.get(key)
    if value is None:
        return
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise _bad(key, "must be an http:// or https:// URL")
    if not urlsplit(value).netloc:
        raise _bad(key, "has no host")


_PROVIDER_KEYS = {"callback_url", "forward_conversions", "timeout_s"}
_SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")


def check_provider(name: str) -> Check:
    """The check of a provider route's config: the provider's credentials (each a non-empty
    string), ``base_url`` (and Vonage's ``conversion_url``) to point it elsewhere,
    ``callback_url`` (what the provider calls back, when convroute's public URL is not it),
    ``forward_conversions`` (default true), ``timeout_s``."""

    def check(config: Mapping[str, Any]) -> dict[str, Any]:
        from convroute.connectors.providers.connector import PROVIDERS

        provider = PROVIDERS[name]
        _unknown(config, {*provider.required, *provider.optional, *_PROVIDER_KEYS})
        for key in provider.required:
            value = config.get(key)
            if not isinstance(value, str) or not value.strip():
                raise _bad(key, f"is required for a {name} route")
        for key in provider.optional:
            if key.endswith("_url"):
                _url(config, key)
            elif key in config and (not isinstance(config[key], str) or not config[key]):
                raise _bad(key, "must be a non-empty string")
        if config.get("signature_method", "md5hash") not in _SIGNATURE_METHODS:
            raise _bad("signature_method", f"must be one of {', '.join(_SIGNATURE_METHODS)}")
        _url(config, "callback_url")
        if not isinstance(config.get("forward_conversions", True), bool):
            raise _bad("forward_conversions", "must be true or false")
        _number(config, "timeout_s", 0.1, 60)
        return dict(config)

    return check


def _capped(check: Check) -> Check:
    """Every connector's config may carry ``mps``: the route's messages-per-second cap."""

    def checked(config: Mapping[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in config.items() if k != "mps"}
        out = check(rest)
        if "mps" in config:
            _number(config, "mps", 0.01, 100_000)
            out["mps"] = config["mps"]
        return dict(out)

    return checked


CHECKS: dict[str, Check] = {
    kind: _capped(check)
    for kind, check in {
        "simulated": check_simulated,
        "http": check_http,
        "smpp": check_smpp,
        **{name: check_provider(name) for name in ("plivo", "vonage", "twilio", "bird")},
    }.items()
}
