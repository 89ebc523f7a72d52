"""The API's JSON parser: DRF's, refusing what it would let through to a 500 or a wrong answer.

- nesting deeper than API_MAX_JSON_DEPTH (no request of the contract nests more than 4 levels;
  a deeply nested body exhausted the recursion limit: a 500);
- NaN, Infinity and -Infinity (not JSON; DRF's strict mode refuses them already, kept here
  whatever STRICT_JSON says).
"""

import codecs
import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def json_depth_exceeds(value, limit: int) -> bool:
    """True if `value` nests dicts/lists deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(_("The JSON body nests too deeply.")) from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(_("The request body is not valid JSON: %(error)s") % {"error": str(error)[:200]}) from None
        if json_depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
            raise ParseError(_("The JSON body nests too deeply."))
        return data
