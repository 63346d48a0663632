"""``python -m quart_blog`` is the ``quart-blog`` command."""

from quart_blog.cli import main

main()
