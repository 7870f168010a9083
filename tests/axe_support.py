"""axe-core in the browser tests: the page as it is now, checked against WCAG 2.2 A/AA and axe's best
practices, with no serious or critical violation allowed.

    from axe_support import assert_accessible
    assert_accessible(driver, "live page, streaming")

axe-core comes with the PyPI package ``axe-playwright-python`` (requirements.txt; its
``axe.min.js`` only: the tests drive Chromium with Selenium, not Playwright). It is run
through WebDriver, so the page's Content-Security-Policy (no inline or foreign script) stays
as it is served.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = ("serious", "critical")


@lru_cache(maxsize=1)
def axe_source() -> str:
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        raise RuntimeError("axe-core is missing: pip install -r requirements.txt (axe-playwright-python)")
    return (Path(spec.origin).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_run(driver) -> dict:
    """axe's results for the document as it is now (violations, incomplete, passes...)."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(axe_source())
    result = driver.execute_async_script(
        "const [tags, done] = arguments;"
        "axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        "  .then((r) => done({violations: r.violations, version: axe.version}))"
        "  .catch((e) => done({error: String(e)}));",
        TAGS,
    )
    if "error" in result:
        raise RuntimeError(f"axe-core failed: {result['error']}")
    return result


def describe(violations: list) -> str:
    lines = []
    for v in violations:
        lines.append(f"  {v['impact']}: {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"      {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


def assert_accessible(driver, state: str) -> dict:
    """No serious or critical axe violation in the page as it is; returns axe's results."""
    result = axe_run(driver)
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core {result['version']}, {state}:\n{describe(blocking)}"
    return result
