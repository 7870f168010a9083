"""What an SDP offer may ask of the server before it is answered: the checks that keep an
offer from turning the server into a UDP cannon or a stuck slot.

    policy = OfferPolicy.from_settings(settings)
    check(description, policy)        # OfferError with the reason, for the browser

- at most ``max_candidates`` UDP ICE candidates (the server sends STUN checks to each),
  on ports 1024-65535;
- every candidate an IP address of an allowed kind (``public``, ``private``,
  ``loopback``, ``link-local``, or a listed network) or an mDNS ``.local`` name (kind
  ``mdns``); never unspecified, multicast, broadcast or reserved addresses, nor DNS names.
  Link-local addresses (169.254.0.0/16, where clouds answer with instance metadata, and
  fe80::/10) and mDNS names (resolved by multicast on the server's own network) are not
  in the default kinds: a browser that has the camera offers its real addresses;
- a DTLS fingerprint for every media section (no encryption, no stream);
- at most ``MAX_MEDIA`` media sections.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiortc.sdp import SessionDescription

MAX_MEDIA = 8
KINDS = ("public", "private", "loopback", "link-local", "mdns")


class OfferError(ValueError):
    """The browser's offer cannot be taken; its text goes back to the browser."""


@dataclass(frozen=True)
class OfferPolicy:
    max_candidates: int = 16
    allow: tuple[str, ...] = ("public", "private", "loopback")

    @classmethod
    def from_settings(cls, settings) -> "OfferPolicy":
        return cls(max_candidates=settings.max_ice_candidates, allow=tuple(settings.ice_allow))

    def networks(self):
        return [ipaddress.ip_network(a, strict=False) for a in self.allow if a not in KINDS]


def address_kind(ip) -> str | None:
    """"loopback", "link-local", "public" or "private" for an address the server may send to; None for one
    it never may."""
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return None
    return "public" if ip.is_global else "private"


def candidate_problem(host: str, policy: OfferPolicy) -> str | None:
    """Why the server may not send ICE checks to ``host``; None if it may."""
    if host.lower().endswith(".local"):  # an mDNS name: resolved on the local network only
        return None if "mdns" in policy.allow else "mDNS (.local) candidates are not allowed here (--ice-allow mdns)"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "a candidate must be an IP address or an mDNS .local name"
    kind = address_kind(ip)
    if kind is None:
        return "an unspecified, multicast, broadcast or reserved address"
    if kind in policy.allow or any(ip in net for net in policy.networks()):
        return None
    return f"{kind} addresses are not allowed by this server (--ice-allow {kind})"


def check(description: SessionDescription, policy: OfferPolicy) -> None:
    """``OfferError`` unless the parsed offer keeps to the policy (module docstring)."""
    media = [m for m in description.media if m.port != 0]
    if len(description.media) > MAX_MEDIA:
        raise OfferError(f"the offer has {len(description.media)} media sections; at most {MAX_MEDIA} are taken")
    for m in media:
        if m.dtls is None or not m.dtls.fingerprints:
            raise OfferError(
                f"the offer's {m.kind} section has no DTLS fingerprint (a=fingerprint): "
                "WebRTC media must be encrypted"
            )
    udp = set()
    for m in media:
        for c in m.ice_candidates:
            problem = candidate_problem(c.ip, policy)
            if problem:
                raise OfferError(f"ICE candidate {c.ip[:64]} refused: {problem}")
            if (c.protocol or "").lower() != "udp":
                continue  # TCP candidates are never paired (the server gathers UDP only)
            if not 1024 <= c.port <= 65535:
                raise OfferError(f"ICE candidate {c.ip[:64]} port {c.port} refused: ports 1024-65535 only")
            udp.add((c.ip.lower(), c.port))
    if len(udp) > policy.max_candidates:
        raise OfferError(
            f"the offer lists {len(udp)} ICE candidates; at most {policy.max_candidates} are taken"
        )
