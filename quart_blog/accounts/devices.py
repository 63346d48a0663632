"""Names a person understands for the browsers behind a user's sessions ("Chrome 131 on Windows").

Only the account page asks, so no other request pays for it: ``ua-parser``'s regexes compile
lazily, one at a time, the first time a name needs them; only the browser and the operating
system are parsed (the device only to tell an iPhone from an iPad); each distinct User-Agent
is parsed once per process, in a worker thread so that a first parse (tens of milliseconds of
regex compiling) never stalls the other requests of the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from functools import cache

from ua_parser import OS, BasicResolver, Domain, Resolver, UserAgent, load_lazy_builtins

UNKNOWN = "Unknown device"
CACHE_SIZE = 1024
# A User-Agent the parser does not know is shown by its first product token ("MyApp/2.1"),
# cut to a length that fits a phone's screen.
MAX_TOKEN = 40
TOKEN_RE = re.compile(r"[^\s()]+")

# ua-parser's families, renamed to what a person calls them.
BROWSERS = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "An app",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "An app",
    "HeadlessChrome": "Headless Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
}
SYSTEMS = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
# On these the browser's version follows the system's updates: nobody needs to be told it.
MOBILE_SYSTEMS = {"iOS", "Android"}
APPLE_DEVICES = {"iPhone", "iPad", "iPod"}

_names: dict[str, str] = {}


@cache
def resolver() -> Resolver:
    """The parser, built on first use (its regexes compile as they are first tried)."""
    return BasicResolver(load_lazy_builtins())


def browser_family(agent: UserAgent | None) -> str | None:
    """ "Chrome", "Safari", "curl", or ``None`` when unknown."""
    if agent is None or agent.family == "Other":
        return None
    return BROWSERS.get(agent.family, agent.family)


def system_name(system: OS | None, user_agent: str) -> str | None:
    """ "Windows", "macOS", "iPhone", or ``None`` when unknown."""
    if system is None or system.family == "Other":
        return None
    if system.family == "iOS":
        device = resolver()(user_agent, Domain.DEVICE).device
        if device is not None and device.family in APPLE_DEVICES:
            return device.family
    return SYSTEMS.get(system.family, system.family)


def device_name(user_agent: str) -> str:
    """A short, readable name for the browser that sent ``user_agent`` (parses every time)."""
    user_agent = user_agent.strip()
    if not user_agent:
        return UNKNOWN
    parsed = resolver()(user_agent, Domain.USER_AGENT | Domain.OS)
    browser = browser_family(parsed.user_agent)
    system = system_name(parsed.os, user_agent)
    if browser and system:
        mobile = parsed.os is not None and parsed.os.family in MOBILE_SYSTEMS
        major = parsed.user_agent.major if parsed.user_agent else None
        version = f" {major}" if major and not mobile else ""
        return f"{browser}{version} on {system}"
    if browser:  # a tool rather than a browser ("curl/8.5.0"): its name says enough
        return browser
    if system:
        return f"A browser on {system}"
    token = TOKEN_RE.search(user_agent)
    if token is None:
        return UNKNOWN
    name = token.group()
    return name if len(name) <= MAX_TOKEN else f"{name[: MAX_TOKEN - 1]}…"


def parse_all(user_agents: Iterable[str]) -> dict[str, str]:
    """The readable name of each User-Agent."""
    return {agent: device_name(agent) for agent in user_agents}


async def device_names(user_agents: Iterable[str]) -> dict[str, str]:
    """The readable name of each User-Agent; those not seen before are parsed in a thread."""
    agents = set(user_agents)
    missing = agents.difference(_names)
    parsed = await asyncio.to_thread(parse_all, missing) if missing else {}
    names = {agent: parsed[agent] if agent in parsed else _names[agent] for agent in agents}
    if len(_names) + len(parsed) > CACHE_SIZE:
        _names.clear()
    _names.update(parsed)
    return names
