from prefect import flow, task


@task(retries=1, retry_delay_seconds=0)
def t(x):
    return x + 1


@flow
def f(x: int) -> int:
    return t(x)


def test_flow(prefect_harness):
    assert f(1) == 2
    assert f(2) == 3
