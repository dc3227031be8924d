"""The status card: compact labelled fields, ids shortened on screen, SANDBOX said once."""

import html

import pytest

from freddy_magic._results import Status
from freddy_magic._statuscard import card_html, card_markdown, card_text, human_duration

ORG = "org_" + "7f3a9c2e" * 5


def _status(organization=ORG, **extra):
    return Status(
        title="Connected",
        method="the sandbox's demo key",
        key="fp=1a2b3c4d",
        base_url="http://127.0.0.1:5000",
        organization=organization,
        source="the in-kernel sandbox (started by FREDDY_SANDBOX=1)",
        **extra,
    )


@pytest.mark.parametrize(
    ("seconds", "said"), [(3598, "60 min"), (45, "45 s"), (3540, "59 min"), (7500, "2 h 5 min"), (86400 * 3, "3 days")]
)
def test_times_are_said_the_way_a_person_says_them(seconds, said):
    assert human_duration(seconds) == said


def test_the_card_has_labelled_fields_and_a_shortened_organization_id():
    status = _status()
    page = card_html(status)
    assert "<strong>Connected</strong>" in page and ">sign-in</td>" in page and ">API</td>" in page
    assert "org_7f3a9c2e7…" in page and f"title='{ORG}'" in page and status["organization"] == ORG
    assert "- organization: `org_7f3a9c2e7…`" in card_markdown(status)
    assert "widget" not in page.lower()


def test_an_organization_is_shown_by_name_with_its_id_shortened_and_whole_in_the_title():
    status = _status(organization=f"Acme Research (by Ada) ({ORG})")
    page = card_html(status)
    assert ">Acme Research (by Ada) (org_7f3a9c2e7…)</td>" in page and f"title='Acme Research (by Ada) ({ORG})'" in page
    assert "organization: Acme Research (by Ada) (org_7f3a9c2e7…)" in card_text(status)
    several = 'not chosen: you belong to 2 organizations; pick one with %config FreddyMagics.organization_id = "org_…"'
    assert f">{html.escape(several)}</td>" in card_html(_status(organization=several)), "words are never cut like an id"


def test_the_sandbox_is_said_once_in_the_theme_error_colour():
    status = _status(sandbox=True, notice="For testing and teaching: connect a real key for real model output.")
    page = card_html(status)
    assert page.count("SANDBOX: answers are fake") == 1 and "var(--jp-error-color1" in page
    assert card_text(status).count("SANDBOX:") == 1 and "FAKE" not in card_text(status)
    assert "**SANDBOX: answers are fake**" in card_markdown(status)
    assert "SANDBOX:" not in card_html(_status())


def test_the_card_escapes_what_it_shows():
    page = card_html(Status(title="Connected", source="<script>x</script>"))
    assert "<script>" not in page and "&lt;script&gt;" in page
