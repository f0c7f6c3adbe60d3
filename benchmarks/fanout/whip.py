"""The one HTTP exchange of WHIP and WHEP, as the benchmark's peers make it."""

from __future__ import annotations

import httpx
from aiortc import RTCPeerConnection


async def post_offer(pc: RTCPeerConnection, url: str, token: str, http_timeout: float) -> str:
    """Post the peer's offer and return the answer's SDP; an error status raises."""
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        response = await client.post(
            url,
            content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    return response.text
