"""Pipeline rules on a real (SQLite) store: stages, one pipeline per app, names, who sees
what, and promotion: same slug, each target's own config, a failed release phase settling
only its target, and the error paths."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cove.cli.pipelines import guess
from cove.domain.errors import InvalidParams, NotFound
from cove.services import apps, config, formation, pipelines, releases
from cove.store import App, Build, Release, Slug, Store
from tests.unit.accounts import add_account

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True


def deploy(store: Store, app: App, owner: str, *, phase: bool = False, commit: str = "c1") -> str:
    """A slug and its release, as a build leaves them (without the build)."""
    with store.session() as s:
        row = s.get(App, app.id)
        assert row is not None
        types = {"web": "gunicorn app:app"} | ({"release": "python release.py"} if phase else {})
        slug = Slug(
            app_id=app.id,
            checksum=f"SHA256:{app.id}",
            size=1,
            process_types=types,
            commit=commit,
            stack="heroku-24",
        )
        s.add(slug)
        s.flush()
        releases.append(s, row, slug_id=slug.id, description="Deploy", user_id=owner)
        return slug.id


@pytest.fixture
def owner(store: Store) -> str:
    return add_account(store, "dev@example.com")


def two_stage(store: Store, owner: str) -> tuple[App, App]:
    staging = apps.create(store, owner, "shop-staging")
    production = apps.create(store, owner, "shop")
    pipeline = pipelines.create(store, owner, "shop")
    pipelines.couple(store, pipeline.id, owner, staging, "staging")
    pipelines.couple(store, "shop", owner, production, "production")
    return staging, production


def latest(store: Store, app: App) -> Release:
    """The app's newest release, config vars loaded (release lists leave them out)."""
    with store.session() as s:
        newest = select(Release).where(Release.app_id == app.id).order_by(Release.version.desc())
        return s.scalars(newest.limit(1)).one()


def test_names_and_stages_are_checked(store: Store, owner: str) -> None:
    with pytest.raises(InvalidParams, match="invalid"):
        pipelines.create(store, owner, "Shop!")
    pipelines.create(store, owner, "shop")
    with pytest.raises(InvalidParams, match="already taken by another pipeline"):
        pipelines.create(store, owner, "shop")
    app = apps.create(store, owner, "shop-dev")
    with pytest.raises(InvalidParams, match="Stage 'qa' is invalid: use one of"):
        pipelines.couple(store, "shop", owner, app, "qa")
    with pytest.raises(NotFound, match="Couldn't find that pipeline"):
        pipelines.couple(store, "nope", owner, app, "development")


def test_an_app_is_in_one_pipeline_at_most(store: Store, owner: str) -> None:
    staging, _ = two_stage(store, owner)
    pipelines.create(store, owner, "other")
    with pytest.raises(InvalidParams, match="shop-staging is already in pipeline shop"):
        pipelines.couple(store, "other", owner, staging, "staging")
    coupling = pipelines.for_app(store, staging)
    pipelines.uncouple(store, coupling.row.id, owner)
    with pytest.raises(NotFound, match="shop-staging is not in a pipeline"):
        pipelines.for_app(store, staging)
    assert pipelines.couple(store, "other", owner, staging, "staging").pipeline.name == "other"


def test_another_users_pipeline_reads_as_missing(store: Store, owner: str) -> None:
    two_stage(store, owner)
    stranger = add_account(store, "eve@example.com")
    with pytest.raises(NotFound):
        pipelines.get(store, "shop", stranger)
    assert pipelines.list_pipelines(store, stranger) == []
    with pytest.raises(NotFound):
        pipelines.of_pipeline(store, "shop", stranger)


def test_rename_update_and_destroy(store: Store, owner: str) -> None:
    staging, production = two_stage(store, owner)
    pipelines.create(store, owner, "taken")
    with pytest.raises(InvalidParams, match="already taken"):
        pipelines.rename(store, "shop", owner, "taken")
    assert pipelines.rename(store, "shop", owner, "store").name == "store"
    coupling = pipelines.for_app(store, staging)
    with pytest.raises(InvalidParams, match="is invalid"):
        pipelines.update_stage(store, coupling.row.id, owner, "prod")
    assert pipelines.update_stage(store, coupling.row.id, owner, "development").row.stage == (
        "development"
    )
    pipelines.destroy(store, "store", owner)
    with pytest.raises(NotFound):
        pipelines.for_app(store, production)
    assert apps.get(store, "shop").name == "shop"  # the apps stay


def test_promotion_releases_the_same_slug_with_each_targets_own_config(
    store: Store, owner: str
) -> None:
    staging, production = two_stage(store, owner)
    config.update(store, staging.id, {"SECRET_KEY": "staging-key"}, owner)
    config.update(store, production.id, {"SECRET_KEY": "production-key"}, owner)
    slug_id = deploy(store, staging, owner)
    source = latest(store, staging)

    promotion = pipelines.promote(store, "shop", owner, staging.id, None, owner)

    [target] = pipelines.targets_of(store, promotion.id)
    assert target.app_id == production.id and target.status == "succeeded"
    release = latest(store, production)
    assert target.release_id == release.id
    assert release.slug_id == slug_id and release.status == "succeeded"
    assert release.config == {"SECRET_KEY": "production-key"}
    assert release.description == f"Promote shop-staging v{source.version}"
    assert promotion.source_release_id == source.id
    with store.session() as s:
        assert s.query(Build).count() == 0
    # Never deployed before: it gets the slug's process types, web at one dyno.
    assert [(f.type, f.quantity) for f in formation.list_formation(store, production.id)] == [
        ("web", 1)
    ]


def test_a_failed_release_phase_fails_its_target_only(store: Store, owner: str) -> None:
    staging, production = two_stage(store, owner)
    second = apps.create(store, owner, "shop-eu")
    pipelines.couple(store, "shop", owner, second, "production")
    deploy(store, staging, owner, phase=True)
    releases.finish(store, latest(store, staging).id, True)

    promotion = pipelines.promote(store, "shop", owner, "shop-staging", None, owner)
    targets = {t.app_id: t for t in pipelines.targets_of(store, promotion.id)}
    assert {t.status for t in targets.values()} == {"pending"}
    with store.session() as s:
        before = releases.current(s, production.id)

    releases.finish(store, targets[production.id].release_id or "", False)
    releases.finish(store, targets[second.id].release_id or "", True)

    targets = {t.app_id: t for t in pipelines.targets_of(store, promotion.id)}
    assert targets[production.id].status == "failed"
    assert "keeps running its current release" in (targets[production.id].error_message or "")
    assert targets[second.id].status == "succeeded"
    with store.session() as s:
        current = releases.current(s, production.id)
    assert current is not None and before is not None and current.id == before.id


def test_promotion_errors(store: Store, owner: str) -> None:
    staging, production = two_stage(store, owner)
    with pytest.raises(InvalidParams, match="shop-staging: it has no release with a slug"):
        pipelines.promote(store, "shop", owner, staging.id, None, owner)
    deploy(store, staging, owner)
    deploy(store, production, owner)
    with pytest.raises(InvalidParams, match="Cannot promote from the 'production' stage"):
        pipelines.promote(store, "shop", owner, production.id, None, owner)
    with pytest.raises(InvalidParams, match="Cannot promote from an app to itself"):
        pipelines.promote(store, "shop", owner, staging.id, [staging.id], owner)
    loner = apps.create(store, owner, "loner")
    with pytest.raises(InvalidParams, match="Cannot find app loner in pipeline shop"):
        pipelines.promote(store, "shop", owner, staging.id, [loner.id], owner)
    with pytest.raises(InvalidParams, match="loner is not in this pipeline"):
        pipelines.promote(store, "shop", owner, "loner", None, owner)
    pipelines.uncouple(store, pipelines.for_app(store, production).row.id, owner)
    with pytest.raises(InvalidParams, match="no downstream apps in production stage"):
        pipelines.promote(store, "shop", owner, staging.id, None, owner)


def test_destroying_the_source_keeps_the_promoted_slug(store: Store, owner: str) -> None:
    staging, production = two_stage(store, owner)
    slug_id = deploy(store, staging, owner)
    pipelines.promote(store, "shop", owner, staging.id, None, owner)
    apps.destroy(store, staging.id)
    with store.session() as s:
        slug = s.get(Slug, slug_id)
        assert slug is not None and slug.app_id == production.id
    assert latest(store, production).slug_id == slug_id


def test_the_cli_guesses_pipeline_and_stage_from_the_app_name() -> None:
    assert guess("shop-staging") == ("shop", "staging")
    assert guess("shop-prod") == ("shop", "production")
    assert guess("shop-dev") == ("shop", "development")
    assert guess("realpython-example-app") == ("realpython-example-app", "production")
    assert guess("-staging") == ("-staging", "production")
