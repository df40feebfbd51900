"""The small tagged-logger helper SDK vendors keep a copy of: adds tags to each line."""

import logging


class TaggedLogger(logging.LoggerAdapter):
    def __init__(self, logger):
        super().__init__(logger, {})
        self.tags = {}

    def add_tags(self, tags):
        self.tags.update(tags)

    def process(self, msg, kwargs):
        return f"{msg} {self.tags}", kwargs
