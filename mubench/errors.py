"""Errors that carry a message meant for the user (printed without a traceback by the CLI)."""


class MubenchError(Exception):
    """A problem with the user's input: config, catalog, data or weights."""


class ConfigError(MubenchError):
    pass


class DataError(MubenchError):
    pass


class ChecksumError(DataError):
    pass


class WeightsError(MubenchError):
    pass
