from cove.addons import catalog
from cove.addons.postgres import PostgresProvider
from cove.addons.provider import Provider, ProviderError, Provisioned
from cove.addons.redis import RedisProvider
from cove.addons.registry import Registry

__all__ = [
    "PostgresProvider",
    "Provider",
    "ProviderError",
    "Provisioned",
    "RedisProvider",
    "Registry",
    "catalog",
]
