"""sqmy — route Chinese public-opinion items (社情民意) to topics and receiving departments."""

__version__ = "0.1.0"
