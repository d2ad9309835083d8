"""Providers: a factory is read once, at registration, from its signature and type hints."""

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Annotated

import pytest

from atoll.errors import ProviderError
from atoll.kernel.providers import (
    Dependency,
    FactoryKind,
    Named,
    Provider,
    Scope,
    dependencies_of,
    describe_arguments,
    describe_key,
    key_of_hint,
    make_key,
    split_key,
)

if TYPE_CHECKING:
    from decimal import Decimal


class Settings:
    pass


DEFAULT_SETTINGS = Settings()


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Db:
    pass


class PostgresDb(Db):
    pass


class Service:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine


class Conn:
    pass


def make_engine(settings: Settings) -> Engine:
    return Engine(settings)


async def open_engine(settings: Settings) -> Engine:
    return Engine(settings)


def connect() -> Iterator[Conn]:
    yield Conn()


def connect_generator() -> Generator[Conn, None, None]:
    yield Conn()


async def connect_async() -> AsyncIterator[Conn]:
    yield Conn()


async def connect_async_generator() -> AsyncGenerator[Conn, None]:
    yield Conn()


def of(factory, **options):
    return Provider.of_factory(factory, scope=options.pop("scope", Scope.APP), **options)


def test_message_scope_is_an_alias_of_request_scope():
    assert Scope.MESSAGE is Scope.REQUEST


def test_only_async_functions_and_async_generators_are_async_kinds():
    assert {kind for kind in FactoryKind if kind.is_async} == {
        FactoryKind.ASYNC,
        FactoryKind.ASYNC_GENERATOR,
    }


def test_a_class_provides_itself_and_needs_its_init_parameters():
    provider = of(Service, scope=Scope.REQUEST)

    assert provider.key is Service
    assert provider.scope is Scope.REQUEST
    assert provider.kind is FactoryKind.SYNC
    assert provider.dependencies == (
        Dependency("settings", Settings, positional=True, has_default=False),
        Dependency("engine", Engine, positional=True, has_default=False),
    )


def test_a_class_without_init_needs_nothing():
    assert of(Settings).dependencies == ()


def test_a_function_provides_its_return_type():
    provider = of(make_engine)

    assert (provider.key, provider.kind) == (Engine, FactoryKind.SYNC)
    assert provider.dependencies[0].key is Settings


def test_an_async_function_is_an_async_factory():
    provider = of(open_engine)

    assert (provider.key, provider.kind) == (Engine, FactoryKind.ASYNC)


@pytest.mark.parametrize("factory", [connect, connect_generator])
def test_a_generator_provides_the_type_it_yields(factory):
    provider = of(factory)

    assert (provider.key, provider.kind) == (Conn, FactoryKind.GENERATOR)


@pytest.mark.parametrize("factory", [connect_async, connect_async_generator])
def test_an_async_generator_provides_the_type_it_yields(factory):
    provider = of(factory)

    assert (provider.key, provider.kind) == (Conn, FactoryKind.ASYNC_GENERATOR)


def test_a_generator_whose_return_type_is_not_an_iterator_is_refused():
    def connect_badly() -> Conn:
        yield Conn()

    with pytest.raises(ProviderError) as caught:
        of(connect_badly)

    assert "connect_badly yields, so its return type must be Iterator[T]" in str(caught.value)
    assert "not Conn" in str(caught.value)


def test_provides_registers_a_factory_under_an_interface():
    provider = of(PostgresDb, provides=Db)

    assert provider.key is Db
    assert provider.factory is PostgresDb


def test_name_keys_a_provider_by_type_and_name():
    assert of(PostgresDb, provides=Db, name="replica").key == (Db, "replica")


def test_named_in_the_return_type_names_the_provider():
    def replica() -> Annotated[Db, Named("replica")]:
        return Db()

    assert of(replica).key == (Db, "replica")


def test_named_in_the_return_type_and_the_same_name_agree():
    def replica() -> Annotated[Db, Named("replica")]:
        return Db()

    assert of(replica, name="replica").key == (Db, "replica")


def test_two_different_names_for_one_provider_are_refused():
    def replica() -> Annotated[Db, Named("replica")]:
        return Db()

    with pytest.raises(ProviderError) as caught:
        of(replica, name="primary")

    assert str(caught.value) == (
        "Db named 'replica' was also given name='primary'; name it once, either with "
        "Named(...) in the type or with name=..."
    )


def test_a_named_hint_asks_for_the_named_provider():
    def report(db: Annotated[Db, Named("replica")]) -> Service:
        raise AssertionError(db)

    assert of(report).dependencies[0].key == (Db, "replica")


def test_annotated_without_named_asks_for_the_plain_type():
    assert key_of_hint(Annotated[Db, "a comment"]) is Db


def test_make_key_is_the_type_without_a_name():
    assert make_key(Db, None) is Db
    assert make_key(Db, "replica") == (Db, "replica")


def test_a_parameter_with_a_default_and_no_hint_is_left_out_and_later_ones_go_by_keyword():
    def make(settings: Settings, retries=3, *, engine: Engine) -> Service:
        raise AssertionError((settings, retries, engine))

    assert of(make).dependencies == (
        Dependency("settings", Settings, positional=True, has_default=False),
        Dependency("engine", Engine, positional=False, has_default=False),
    )


def test_a_hinted_parameter_with_a_default_records_the_default():
    def make(settings: Settings, retries: int = 3) -> Service:
        raise AssertionError((settings, retries))

    assert of(make).dependencies[1] == Dependency("retries", int, positional=True, has_default=True)


def test_keyword_only_parameters_are_passed_by_keyword():
    def make(*, settings: Settings) -> Service:
        raise AssertionError(settings)

    assert of(make).dependencies[0].positional is False


def test_variadic_parameters_are_left_out():
    def make(*args: Settings, **kwargs: Engine) -> Service:
        raise AssertionError((args, kwargs))

    assert of(make).dependencies == ()


def test_a_parameter_without_hint_or_default_is_refused_naming_it():
    def make(settings: Settings, engine) -> Service:
        raise AssertionError((settings, engine))

    with pytest.raises(ProviderError) as caught:
        of(make)

    assert str(caught.value) == (
        "parameter 'engine' of test_a_parameter_without_hint_or_default_is_refused_naming_it"
        ".<locals>.make has no type hint, so the container cannot know what to pass; annotate "
        "it with the type it needs"
    )


def test_a_positional_only_parameter_after_a_left_out_one_is_refused():
    def make(retries=3, settings: Settings = DEFAULT_SETTINGS, /) -> Service:
        raise AssertionError((retries, settings))

    with pytest.raises(ProviderError) as caught:
        of(make)

    assert "positional-only parameter 'settings'" in str(caught.value)
    assert "comes after 'retries', which the container leaves to its default" in str(caught.value)


def test_parameters_the_caller_gives_need_no_hint():
    def handle(request, settings: Settings) -> None:
        raise AssertionError((request, settings))

    assert dependencies_of(handle, given={"request"}) == (
        Dependency("settings", Settings, positional=True, has_default=False),
    )


def test_a_hint_that_cannot_be_evaluated_is_refused_with_the_fix():
    def make(amount: "Decimal") -> Service:
        raise AssertionError(amount)

    with pytest.raises(ProviderError) as caught:
        of(make)

    message = str(caught.value)
    assert "the type hints of test_a_hint_that_cannot_be_evaluated" in message
    assert "name 'Decimal' is not defined" in message
    assert "define that type at module level, or import it outside `if TYPE_CHECKING:`" in (message)
    assert isinstance(caught.value.__cause__, NameError)


def test_a_return_type_that_cannot_be_evaluated_is_refused_with_the_fix():
    def make() -> "Decimal":
        raise AssertionError

    with pytest.raises(ProviderError) as caught:
        of(make)

    assert str(caught.value) == (
        "the type hints of test_a_return_type_that_cannot_be_evaluated_is_refused_with_the_fix"
        ".<locals>.make name something that cannot be found (name 'Decimal' is not defined); "
        "define that type at module level, or import it outside `if TYPE_CHECKING:`"
    )


@pytest.mark.parametrize("returns", ["nothing", "None"])
def test_a_function_without_return_type_is_refused_with_the_fix(returns):
    def make_untyped():
        return Db()

    def make_none() -> None:
        pass

    with pytest.raises(ProviderError) as caught:
        of(make_untyped if returns == "nothing" else make_none)

    assert "has no return type, so the container cannot know what it provides; annotate its " in (
        str(caught.value)
    )
    assert str(caught.value).endswith("return type or pass provides=...")


def test_a_non_callable_is_refused():
    with pytest.raises(ProviderError) as caught:
        of(Db())

    assert str(caught.value) == (
        "an instance of Db is not callable, so it cannot be a factory; register the instance "
        "itself with registry.value(...)"
    )


def test_a_scope_that_is_not_a_scope_is_refused():
    with pytest.raises(ProviderError) as caught:
        of(Db, scope="request")

    assert str(caught.value) == (
        "scope='request' given for Db is not a Scope; pass Scope.APP, Scope.REQUEST "
        "(or Scope.MESSAGE) or Scope.TRANSIENT"
    )


class EngineFactory:
    def __call__(self, settings: Settings) -> Engine:
        return Engine(settings)


class AsyncEngineFactory:
    async def __call__(self, settings: Settings) -> Engine:
        return Engine(settings)


def test_a_callable_object_is_read_through_its_call_method():
    provider = of(EngineFactory())

    assert (provider.key, provider.kind) == (Engine, FactoryKind.SYNC)
    assert provider.dependencies[0].key is Settings
    assert of(AsyncEngineFactory()).kind is FactoryKind.ASYNC


def test_a_partial_without_annotations_needs_provides():
    def make(settings: Settings, retries: int = 3) -> Engine:
        raise AssertionError((settings, retries))

    bound = functools.partial(make, Settings())

    assert of(bound, provides=Engine).dependencies == ()
    with pytest.raises(ProviderError, match="has no return type"):
        of(bound)


def test_a_builtin_without_a_signature_takes_no_dependencies():
    assert of(dict, provides=dict).dependencies == ()


def test_a_value_provider_is_app_scoped():
    settings = Settings()
    provider = Provider.of_value(settings, Settings)

    assert (provider.scope, provider.kind, provider.factory) == (
        Scope.APP,
        FactoryKind.VALUE,
        settings,
    )


def test_describe_names_the_factory_or_the_value():
    assert of(make_engine).describe() == "make_engine"
    assert Provider.of_value(3, int).describe() == "the value 3"


def test_describe_key_reads_as_a_reader_would_write_it():
    assert describe_key(Engine) == "Engine"
    assert describe_key((Db, "replica")) == "Db named 'replica'"
    assert describe_key(list[int]) == "list[int]"


def test_split_key_gives_the_type_and_the_name_or_none():
    assert split_key(Engine) == (Engine, None)
    assert split_key((Db, "replica")) == (Db, "replica")
    assert split_key(make_key(Annotated[Db, Named("replica")], None)) == (Db, "replica")


def test_describe_arguments_reads_as_the_arguments_of_get():
    assert describe_arguments(Engine) == "Engine"
    assert describe_arguments((Db, "replica")) == "Db, 'replica'"
