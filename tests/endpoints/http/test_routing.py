import uuid

import pytest

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.routing import Match, Route, Router
from atoll.errors import ConfigError


def get_run(): ...


def latest_run(): ...


def delete_run(): ...


def list_runs(): ...


def head_run(): ...


def day_runs(): ...


@pytest.fixture
def router():
    router = Router()
    router.add("GET", "/runs", list_runs)
    router.add("GET", "/runs/latest", latest_run)
    router.add("GET", "/runs/{run_id}", get_run, {"run_id": int})
    router.add("DELETE", "/runs/{run_id}", delete_run, {"run_id": int})
    router.add("GET", "/users/{user_id}/runs/{day}", day_runs, {"user_id": int, "day": str})
    return router


def status_of(router, method, path):
    with pytest.raises(HTTPError) as caught:
        router.match(method, path)
    return caught.value


# --- matching -------------------------------------------------------------------------------


def test_a_static_path_matches_with_no_params(router):
    match = router.match("GET", "/runs")
    assert (match.endpoint, match.params) == (list_runs, {})


def test_a_template_matches_with_converted_params(router):
    match = router.match("GET", "/runs/42")
    assert (match.endpoint, match.params) == (get_run, {"run_id": 42})


def test_a_template_with_two_params_converts_both(router):
    match = router.match("GET", "/users/7/runs/monday")
    assert (match.endpoint, match.params) == (day_runs, {"user_id": 7, "day": "monday"})


def test_the_method_picks_the_endpoint(router):
    assert router.match("DELETE", "/runs/42").endpoint is delete_run


def test_each_match_has_its_own_params(router):
    first = router.match("GET", "/runs")
    first.params["x"] = 1
    assert router.match("GET", "/runs").params == {}


def test_a_static_route_beats_a_template(router):
    assert router.match("GET", "/runs/latest").endpoint is latest_run


def test_a_literal_beats_a_parameter_at_the_first_segment_where_templates_differ():
    router = Router()
    router.add("GET", "/{kind}/latest", day_runs, {"kind": str})
    router.add("GET", "/runs/{run_id}", get_run, {"run_id": str})
    assert router.match("GET", "/runs/latest").endpoint is get_run
    assert router.match("GET", "/users/latest").params == {"kind": "users"}


def test_templates_with_another_segment_count_do_not_match(router):
    assert status_of(router, "GET", "/runs/42/laps").status == 404


def test_an_empty_segment_does_not_fill_a_parameter(router):
    assert status_of(router, "GET", "/users//runs/monday").status == 404


def test_the_root_path_is_a_static_route():
    router = Router()
    router.add("GET", "/", list_runs)
    router.add("GET", "/{name}", get_run, {"name": str})
    assert router.match("GET", "/").endpoint is list_runs
    assert router.match("GET", "/x").params == {"name": "x"}


def test_a_template_of_only_parameters_matches_any_path_of_its_length():
    router = Router()
    router.add("GET", "/{a}/{b}", get_run, {"a": str, "b": str})
    assert router.match("GET", "/x/y").params == {"a": "x", "b": "y"}


# --- parameter types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (int, "42", 42),
        (int, "-3", -3),
        (int, "007", 7),
        (str, "été", "été"),
        (float, "2.5", 2.5),
        (float, "-1e3", -1000.0),
        (float, "3", 3.0),
        (
            uuid.UUID,
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID(int=0x12345678123456781234567812345678),
        ),
        (bool, "true", True),
        (bool, "False", False),
        (bool, "1", True),
        (bool, "0", False),
    ],
)
def test_a_parameter_converts_to_its_type(kind, text, value):
    router = Router()
    router.add("GET", "/things/{thing}", get_run, {"thing": kind})
    converted = router.match("GET", f"/things/{text}").params["thing"]
    assert converted == value
    assert type(converted) is kind


@pytest.mark.parametrize(
    ("kind", "text", "name"),
    [
        (int, "abc", "int"),
        (int, "4_2", "int"),
        (int, " 42", "int"),
        (int, "-", "int"),
        (int, "٤٢", "int"),
        (float, "nan", "float"),
        (float, "inf", "float"),
        (float, "1e999", "float"),
        (float, "1_0", "float"),
        (float, "1e", "float"),
        (uuid.UUID, "not-a-uuid", "uuid"),
        (bool, "yes", "bool"),
    ],
)
def test_a_parameter_that_does_not_convert_is_a_422(kind, text, name):
    router = Router()
    router.add("GET", "/things/{thing}", get_run, {"thing": kind})
    error = status_of(router, "GET", f"/things/{text}")
    assert error.status == 422
    assert error.detail == f"Expected `{name}`, got `{text}` - at `path.thing`"


def test_the_422_names_the_first_parameter_that_does_not_convert(router):
    error = status_of(router, "GET", "/users/x/runs/monday")
    assert error.detail == "Expected `int`, got `x` - at `path.user_id`"


def test_the_422_shortens_a_long_value():
    router = Router()
    router.add("GET", "/runs/{run_id}", get_run, {"run_id": int})
    error = status_of(router, "GET", "/runs/" + "x" * 100)
    assert error.detail == f"Expected `int`, got `{'x' * 40}...` - at `path.run_id`"


# --- 404, 405 and HEAD ----------------------------------------------------------------------


def test_an_unknown_path_is_a_404_naming_it(router):
    error = status_of(router, "GET", "/walks")
    assert error.status == 404
    assert error.detail == (
        "no route matches the path /walks; "
        "check the path against the service's routes (`atoll routes` lists them)"
    )


def test_a_trailing_slash_is_another_path_but_the_404_suggests_the_route(router):
    error = status_of(router, "GET", "/runs/")
    assert error.status == 404
    assert error.detail.startswith("no route matches the path /runs/; did you mean /runs?")


def test_a_missing_trailing_slash_404_suggests_the_route_with_one():
    router = Router()
    router.add("GET", "/runs/{run_id}/", get_run, {"run_id": int})
    error = status_of(router, "GET", "/runs/1")
    assert "did you mean /runs/1/?" in error.detail


def test_the_404_suggests_nothing_for_the_root():
    error = status_of(Router(), "GET", "/")
    assert "did you mean" not in error.detail


def test_a_known_path_with_another_method_is_a_405_with_allow(router):
    error = status_of(router, "POST", "/runs/42")
    assert error.status == 405
    assert error.headers == ((b"allow", b"DELETE, GET, HEAD"),)
    assert error.detail == "POST is not allowed on /runs/42; use DELETE, GET, HEAD"


def test_a_static_path_with_another_method_is_a_405(router):
    error = status_of(router, "POST", "/runs")
    assert error.headers == ((b"allow", b"GET, HEAD"),)


def test_the_405_allows_the_methods_of_every_route_on_the_path(router):
    router.add("PUT", "/runs/latest", latest_run)
    error = status_of(router, "POST", "/runs/latest")
    assert error.headers == ((b"allow", b"DELETE, GET, HEAD, PUT"),)


def test_a_template_route_serves_a_method_the_static_route_lacks():
    router = Router()
    router.add("GET", "/runs/latest", latest_run)
    router.add("DELETE", "/runs/{run_id}", delete_run, {"run_id": str})
    match = router.match("DELETE", "/runs/latest")
    assert (match.endpoint, match.params) == (delete_run, {"run_id": "latest"})


def test_head_matches_the_get_endpoint(router):
    assert router.match("HEAD", "/runs").endpoint is list_runs
    assert router.match("HEAD", "/runs/1").endpoint is get_run


@pytest.mark.parametrize("first", ["GET", "HEAD"])
def test_a_head_route_replaces_the_head_that_get_implies(first):
    router = Router()
    routes = {"GET": get_run, "HEAD": head_run}
    for method in (first, *(set(routes) - {first})):
        router.add(method, "/runs/{run_id}", routes[method], {"run_id": int})
        router.add(method, "/runs", routes[method])
    assert router.match("HEAD", "/runs/1").endpoint is head_run
    assert router.match("HEAD", "/runs").endpoint is head_run
    assert router.match("GET", "/runs").endpoint is get_run


def test_a_method_is_matched_in_any_case_it_is_added_in():
    router = Router()
    router.add("post", "/runs", list_runs)
    assert router.match("POST", "/runs").endpoint is list_runs


# --- add-time checks ------------------------------------------------------------------------


def test_routes_lists_routes_in_the_order_added_without_implicit_heads(router):
    assert router.routes[:3] == [
        Route("GET", "/runs", list_runs),
        Route("GET", "/runs/latest", latest_run),
        Route("GET", "/runs/{run_id}", get_run),
    ]
    assert len(router.routes) == 5
    method, template, endpoint = router.routes[3]
    assert (method, template, endpoint) == ("DELETE", "/runs/{run_id}", delete_run)


def test_routes_is_a_copy(router):
    router.routes.clear()
    assert len(router.routes) == 5


def test_the_same_static_route_twice_is_a_config_error_naming_both(router):
    with pytest.raises(ConfigError) as caught:
        router.add("GET", "/runs", delete_run)
    assert str(caught.value) == (
        "route 'GET /runs' is added twice: for list_runs and for delete_run; remove one"
    )


def test_the_same_template_twice_is_a_config_error_naming_both(router):
    with pytest.raises(ConfigError, match="is added twice: for get_run and for head_run"):
        router.add("GET", "/runs/{run_id}", head_run, {"run_id": int})


def test_a_second_head_route_is_a_config_error():
    router = Router()
    router.add("HEAD", "/runs", head_run)
    with pytest.raises(ConfigError, match="'HEAD /runs' is added twice"):
        router.add("HEAD", "/runs", get_run)


def test_the_same_shape_with_other_names_is_a_config_error_naming_both(router):
    with pytest.raises(ConfigError) as caught:
        router.add("PUT", "/runs/{id}", get_run, {"id": int})
    assert str(caught.value) == (
        "route 'PUT /runs/{id}' has the shape of '/runs/{run_id}' with other parameter names; "
        "one path, one set of names: rename them to match"
    )


def test_a_parameter_without_a_type_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        Router().add("GET", "/runs/{run_id}", get_run)
    assert str(caught.value) == (
        "route 'GET /runs/{run_id}': parameter 'run_id' has no type; "
        "give it one in params, such as {'run_id': int}"
    )


def test_a_type_for_a_parameter_the_path_lacks_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        Router().add("GET", "/runs", get_run, {"run_id": int})
    assert str(caught.value) == (
        "route 'GET /runs': params gives a type for 'run_id', which the path does not have; "
        "remove it or add {run_id} to the path"
    )


@pytest.mark.parametrize(("kind", "shown"), [(list, "list"), (list[int], "list[int]")])
def test_an_unsupported_type_is_a_config_error_naming_route_parameter_and_types(kind, shown):
    with pytest.raises(ConfigError) as caught:
        Router().add("GET", "/runs/{run_id}", get_run, {"run_id": kind})
    assert str(caught.value) == (
        f"route 'GET /runs/{{run_id}}': parameter 'run_id' has type {shown}, which a path "
        "parameter cannot have; use one of: int, str, float, uuid, bool (uuid is uuid.UUID)"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("runs", "the path must start with '/', as in '/runs'"),
        ("/runs/run-{id}", "segment 'run-{id}' is not a parameter"),
        ("/runs/{id", "segment '{id' is not a parameter"),
        ("/runs/{}", "segment '{}' is not a parameter"),
        ("/runs/{1x}", "segment '{1x}' is not a parameter"),
        ("/runs/{a}/{a}", "parameter 'a' appears twice; rename one"),
    ],
)
def test_a_malformed_template_is_a_config_error(template, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        Router().add("GET", template, get_run, {"id": int, "a": int})


@pytest.mark.parametrize("method", ["", "GE T", "GÉT", "M-SEARCH"])
def test_a_malformed_method_is_a_config_error(method):
    with pytest.raises(ConfigError, match="the method must be a word such as GET or POST"):
        Router().add(method, "/runs", get_run)


def test_match_repr_shows_endpoint_and_params():
    assert repr(Match("e", {"a": 1})) == "Match('e', {'a': 1})"
