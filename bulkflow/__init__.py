"""bulkflow: safe, fast bulk updates of Adobe Experience Platform Flow Service resources."""

__version__ = "0.1.0"
