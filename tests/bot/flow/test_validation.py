"""Flow validation: valid examples, WhatsApp limits and whole-file rules, each error naming its
line and field; the YAML dialect; the `supportbot flow` CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from supportbot.flow import FlowError, load_flow_text, validate_flow_text
from supportbot.flow.cli import main as flow_cli

EXAMPLES = Path(__file__).resolve().parents[3] / "bot" / "supportbot" / "flow" / "examples"

BASE = """\
version: 1
name: t
start: menu
steps:
  menu:
    text: "Pick one"
    buttons:
      - {id: a, title: "Alpha", goto: done}
  done:
    text: "Done"
"""


def errors_of(text: str) -> list[str]:
    return validate_flow_text(textwrap.dedent(text))


@pytest.mark.parametrize("name", ["ecommerce.yaml", "clinic.yaml"])
def test_example_flows_are_valid(name: str) -> None:
    assert validate_flow_text((EXAMPLES / name).read_text()) == []


def test_minimal_flow_is_valid() -> None:
    flow = load_flow_text(BASE)
    assert flow.start == "menu" and flow.steps["menu"].buttons is not None
    assert flow.opt_out.keywords[0] == "STOP"  # defaults apply


def test_button_title_over_20_chars_names_line_and_field() -> None:
    text = BASE.replace('title: "Alpha"', 'title: "A title that is too long"')
    assert errors_of(text) == [
        "line 8: steps.menu.buttons[0].title: button title is 24 characters; "
        "WhatsApp allows at most 20"
    ]


def test_more_than_three_buttons_rejected() -> None:
    extra = "".join(f'      - {{id: b{i}, title: "B{i}", goto: done}}\n' for i in range(3))
    text = BASE.replace("      - {id: a,", extra + "      - {id: a,")
    (error,) = errors_of(text)
    assert error.startswith("line 7: steps.menu.buttons: 4 reply buttons; WhatsApp allows 1 to 3")


def _list_flow(rows: int, title: str = "Row", description: str = "d") -> str:
    body = "".join(
        f'            - {{id: r{i}, title: "{title}", description: "{description}", goto: done}}\n'
        for i in range(rows)
    )
    return (
        textwrap.dedent("""\
        version: 1
        name: t
        start: menu
        steps:
          menu:
            text: "Pick"
            list:
              button: "Options"
              sections:
                - title: "All"
                  rows:
        """)
        + body.replace("            - ", "            - ", 1)
        + "  done: {text: ok}\n"
    )


def test_list_limits() -> None:
    assert validate_flow_text(_list_flow(10)) == []
    assert validate_flow_text(_list_flow(11)) == [
        "line 7: steps.menu.list: the list has 11 rows; WhatsApp allows at most 10"
    ]
    assert validate_flow_text(_list_flow(1, title="x" * 25)) == [
        "line 12: steps.menu.list.sections[0].rows[0].title: row title is 25 characters; "
        "WhatsApp allows at most 24"
    ]
    assert validate_flow_text(_list_flow(1, description="y" * 73)) == [
        "line 12: steps.menu.list.sections[0].rows[0].description: row description is 73 "
        "characters; WhatsApp allows at most 72"
    ]


def test_unknown_goto_target() -> None:
    (error,) = errors_of(BASE.replace("goto: done", "goto: nowhere"))
    assert error.startswith("line 8: steps.menu.buttons[0].goto: unknown step 'nowhere'")


def test_unknown_start_and_unknown_field() -> None:
    text = BASE.replace("start: menu", "start: missing").replace(
        '    text: "Done"', '    text: "Done"\n    colour: red'
    )
    assert errors_of(text) == ["line 11: steps.done.colour: unknown field 'colour'"]
    # whole-file rules run once the fields are valid
    assert errors_of(BASE.replace("start: menu", "start: missing"))[0].startswith(
        "line 3: start: unknown step 'missing'"
    )


def test_missing_required_field_points_at_parent() -> None:
    assert errors_of(BASE.replace("name: t\n", "")) == ["line 1: name: required field is missing"]


def test_duplicate_key_is_an_error() -> None:
    text = BASE + '  menu:\n    text: "again"\n'
    assert errors_of(text) == ["line 11: steps.menu: duplicate key (first defined on line 5)"]


def test_yaml_syntax_error_has_line() -> None:
    (error,) = errors_of(BASE + "  broken: [unclosed\n")
    assert error.startswith("line 12: YAML syntax error")


def test_version_is_required_and_checked() -> None:
    assert errors_of(BASE.replace("version: 1", "version: 2")) == [
        "line 1: version: unsupported version 2; supported: 1"
    ]
    assert "required field is missing" in errors_of(BASE.replace("version: 1\n", ""))[0]
    assert errors_of("- just a list\n") == [
        "line 1: the flow must be a YAML mapping (see SCHEMA.md)"
    ]


def test_bad_regex_timezone_window_and_variable() -> None:
    text = BASE + textwrap.dedent("""\
        intents:
          - id: broken
            regex: ['(unclosed']
            goto: menu
        business_hours:
          timezone: Mars/Olympus
          schedule:
            mon: ["18:00-09:00"]
          message: closed
        """)
    assert errors_of(text) == [
        "line 13: intents[0].regex[0]: invalid regular expression: missing ), unterminated "
        "subpattern at position 0",
        "line 16: business_hours.timezone: unknown time zone 'Mars/Olympus' (use an IANA name "
        "like Asia/Kolkata)",
        "line 18: business_hours.schedule.mon[0]: opening windows look like '09:00-18:00' "
        "(start before end, end <= 24:00)",
    ]
    text = BASE.replace('text: "Done"', 'text: "Thanks {{order_id}}"')
    assert errors_of(text) == [
        "line 10: steps.done.text: unknown variable {{order_id}}"
        " (known: ['customer_name', 'opens_at'])"
    ]


def test_next_loop_rejected() -> None:
    text = BASE.replace('    text: "Done"', '    text: "Done"\n    next: again') + (
        "  again:\n    text: x\n    next: done\n"
    )
    errors = errors_of(text)
    assert (
        "line 11: steps.done.next: steps loop through 'next' forever: done -> again -> done"
        in errors
    )


def test_step_shape_rules() -> None:
    text = BASE.replace('    text: "Done"', '    text: "Done"\n    action: handoff\n    next: menu')
    assert errors_of(text) == ["line 9: steps.done: 'next' cannot follow an action"]
    text = BASE.replace('    text: "Pick one"\n', "")
    assert errors_of(text) == ["line 5: steps.menu: a menu needs 'text' (WhatsApp requires a body)"]


def test_on_text_llm_needs_llm_section() -> None:
    text = BASE.replace('    text: "Done"', '    text: "Done"\n    on_text: llm')
    assert errors_of(text) == ["line 11: steps.done.on_text: on_text: llm needs an 'llm' section"]


def test_yaml_12_scalars_stay_strings() -> None:
    text = BASE + textwrap.dedent("""\
        opt_out:
          keywords: [STOP, NO, off]
        business_hours:
          timezone: Asia/Kolkata
          schedule: {mon: [09:00-18:00]}
          holidays: [2026-01-26]
          message: closed
        """)
    flow = load_flow_text(text)
    assert flow.opt_out.keywords == ["STOP", "NO", "off"]
    assert flow.business_hours is not None
    assert flow.business_hours.holidays == ["2026-01-26"]


def test_flow_error_lists_all_problems() -> None:
    text = BASE.replace('title: "Alpha"', 'title: "' + "x" * 21 + '"').replace(
        "name: t", "name: t\nbogus: 1"
    )
    with pytest.raises(FlowError) as info:
        load_flow_text(text)
    assert [e.split(":")[0] for e in info.value.errors] == ["line 3", "line 9"]


def test_cli_validate_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = EXAMPLES / "ecommerce.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("goto: done", "goto: nowhere"))
    assert flow_cli(["validate", str(good)]) == 0
    assert "ok (acme-store" in capsys.readouterr().out
    assert flow_cli(["validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:line 8: steps.menu.buttons[0].goto: unknown step 'nowhere'" in err
    assert flow_cli(["validate", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert flow_cli(["show", str(EXAMPLES / "clinic.yaml")]) == 0
    out = capsys.readouterr().out
    assert "flow 'sunrise-clinic'" in out and "ask_name: ask patient_name" in out
    assert flow_cli(["show", str(bad)]) == 1


def test_cli_is_registered_as_supportbot_flow(capsys: pytest.CaptureFixture[str]) -> None:
    from supportbot.cli import main as supportbot_main

    assert supportbot_main(["flow", "validate", str(EXAMPLES / "clinic.yaml")]) == 0
    assert "ok (sunrise-clinic" in capsys.readouterr().out
