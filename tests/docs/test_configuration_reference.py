"""docs/configuration.md is generated from the settings classes; this fails when a setting changed and
`python -m docs.configuration` was not rerun, and when a setting has no description."""

from docs import configuration


def test_configuration_reference_is_current():
    assert configuration.PAGE.read_text(encoding="utf-8") == configuration.render(), (
        "docs/configuration.md is stale: run `.venv/bin/python -m docs.configuration` and commit it"
    )


def test_every_setting_of_every_service_is_listed_with_a_description():
    page = configuration.render()
    modules = configuration.settings_modules()
    assert {"services.common.settings", "services.ingest.settings", "services.metrics.settings",
            "services.notifier.settings", "services.survey.settings"} <= set(modules)
    undescribed = []
    for module in modules:
        for cls in configuration.settings_classes(module):
            for name, field in configuration.own_fields(cls).items():
                assert configuration.env_names(name, field) in page, f"{cls.__name__}.{name} missing"
                if not field.description:
                    undescribed.append(f"{cls.__name__}.{name}")
    assert not undescribed, f"settings without a description (Field(description=...)): {undescribed}"


def test_the_check_command_reports_a_stale_page(tmp_path, monkeypatch):
    stale = tmp_path / "configuration.md"
    stale.write_text("# an old page\n", encoding="utf-8")
    monkeypatch.setattr(configuration, "PAGE", stale)
    monkeypatch.setattr(configuration, "ROOT", tmp_path)
    assert configuration.main(["--check"]) == 1
    assert configuration.main([]) == 0
    assert configuration.main(["--check"]) == 0
