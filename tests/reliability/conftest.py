"""The reliability checks' CI subset: real `serve` processes, kills, failing backends, hostile input."""


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: crash, failing-backend and hostile-input checks (CI subset)")
