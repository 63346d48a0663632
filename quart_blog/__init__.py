"""quart-blog: the async Flask-Login tutorial blog, production-grade."""

from quart_blog.app import create_app

__all__ = ["create_app"]
