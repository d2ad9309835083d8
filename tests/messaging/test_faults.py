"""Faults: which application errors a caller may see, and with what status, code and title."""

import pytest

from atoll.errors import ConfigError
from atoll.messaging.faults import APPLICATION_CODES, Fault, FaultMap, FaultRule


class EmailTakenError(Exception):
    pass


class DomainError(Exception):
    pass


class RunNotFoundError(DomainError):
    pass


class HTTPTimeoutError(Exception):
    pass


def test_a_declared_error_is_described_with_its_status_code_title_and_message():
    faults = FaultMap()
    faults.add(EmailTakenError, status=409, code=-32010, title="email taken")

    fault = faults.describe(EmailTakenError("a@b.c is registered"))

    assert fault == Fault(
        status=409,
        code=-32010,
        title="email taken",
        detail="a@b.c is registered",
        data={"type": "EmailTakenError"},
    )


def test_an_undeclared_error_is_unexpected():
    faults = FaultMap()
    faults.add(EmailTakenError)

    assert faults.describe(RuntimeError("secret")) is None


def test_a_subclass_is_described_by_its_base_classs_rule():
    faults = FaultMap()
    faults.add(DomainError, status=422)

    fault = faults.describe(RunNotFoundError("run 7"))

    assert fault is not None
    assert (fault.status, fault.detail, fault.data) == (422, "run 7", {"type": "RunNotFoundError"})


def test_the_nearest_class_in_the_mro_wins():
    faults = FaultMap()
    faults.add(DomainError, status=422)
    faults.add(RunNotFoundError, status=404)

    statuses = [faults.describe(error) for error in (RunNotFoundError(), DomainError())]

    assert [fault.status if fault else None for fault in statuses] == [404, 422]


def test_the_defaults_are_400_and_the_first_application_code():
    faults = FaultMap()
    faults.add(EmailTakenError)

    assert faults.rules() == [FaultRule(400, -32000, "email taken")]


@pytest.mark.parametrize("status", [400, 404, 599])
def test_an_http_error_status_is_accepted(status):
    faults = FaultMap()
    faults.add(EmailTakenError, status=status)

    assert faults.rules()[0].status == status


@pytest.mark.parametrize("status", [200, 399, 600])
def test_a_status_outside_400_to_599_is_refused(status):
    with pytest.raises(
        ConfigError, match=rf"status {status} for EmailTakenError is not an HTTP error status"
    ):
        FaultMap().add(EmailTakenError, status=status)


@pytest.mark.parametrize("code", [-32000, -32050, -32099])
def test_a_code_in_the_application_range_is_accepted(code):
    faults = FaultMap()
    faults.add(EmailTakenError, code=code)

    assert faults.rules()[0].code == code


@pytest.mark.parametrize("code", [-31999, -32100, -32600, 1])
def test_a_code_outside_the_application_range_is_refused(code):
    with pytest.raises(ConfigError, match=rf"JSON-RPC code {code} for EmailTakenError is outside"):
        FaultMap().add(EmailTakenError, code=code)


def test_the_application_range_is_minus_32000_to_minus_32099():
    assert (min(APPLICATION_CODES), max(APPLICATION_CODES)) == (-32099, -32000)


@pytest.mark.parametrize("error", [EmailTakenError("x"), int, "EmailTakenError"])
def test_something_other_than_an_exception_class_is_refused(error):
    with pytest.raises(ConfigError, match="is not an exception class; pass the class itself"):
        FaultMap().add(error)


@pytest.mark.parametrize(
    ("error", "title"),
    [
        (EmailTakenError, "email taken"),
        (RunNotFoundError, "run not found"),
        (HTTPTimeoutError, "http timeout"),
        (DomainError, "domain"),
        (Exception, "exception"),
        (type("Error", (Exception,), {}), "error"),
    ],
)
def test_the_title_is_derived_from_the_class_name(error, title):
    faults = FaultMap()
    faults.add(error)

    assert faults.rules()[0].title == title


def test_a_given_title_wins_over_the_derived_one():
    faults = FaultMap()
    faults.add(EmailTakenError, title="address in use")

    assert faults.rules()[0].title == "address in use"


def test_the_detail_falls_back_to_the_title_when_the_error_has_no_message():
    faults = FaultMap()
    faults.add(EmailTakenError)

    fault = faults.describe(EmailTakenError())

    assert fault is not None
    assert fault.detail == "email taken"


def test_update_adds_the_other_maps_rules_and_its_rules_win():
    mine = FaultMap()
    mine.add(EmailTakenError, status=409)
    mine.add(DomainError, status=422)
    theirs = FaultMap()
    theirs.add(DomainError, status=400, code=-32001)
    theirs.add(HTTPTimeoutError, status=504)

    mine.update(theirs)

    assert mine.rules() == [
        FaultRule(409, -32000, "email taken"),
        FaultRule(400, -32001, "domain"),
        FaultRule(504, -32000, "http timeout"),
    ]
    assert len(theirs) == 2


def test_rules_keep_their_order_and_the_map_counts_them():
    faults = FaultMap()
    assert len(faults) == 0

    faults.add(HTTPTimeoutError)
    faults.add(EmailTakenError)

    assert [rule.title for rule in faults.rules()] == ["http timeout", "email taken"]
    assert len(faults) == 2
