#!/usr/bin/env python3
"""Checks the relative links of the project's Markdown pages.

Run from anywhere: python3 scripts/check_links.py

For README.md, docs/*.md, bench/README.md and examples/**/README.md, every
Markdown link or image [text](target) and every link definition
[ref]: target whose target is relative (no scheme such as http:, https: or
mailto:) must name a file or directory that exists, resolved against the
page's own directory (a target starting with / against the repository
root). A #anchor must be a heading of the target Markdown file, as GitHub
makes it (lowercase; punctuation other than '-' and '_' dropped; spaces
become '-'; a repeated heading gets -1, -2, ...), or an explicit
<a id="..."> / <a name="...">. Links inside fenced code blocks and inline
code spans are not links. Prints each broken link as
`file:line: target: reason` and exits 1 if there is any; otherwise prints
`links: N checked, 0 broken`. Python 3 standard library only.
"""

import glob
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target) or ![alt](target); the text may hold one level of [...].
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
HTML_TAG = re.compile(r"<[^>]+>")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def pages():
    """The pages whose links are checked, relative to ROOT, sorted."""
    found = set()
    for pattern in ("README.md", "docs/*.md", "bench/README.md",
                    "examples/**/README.md"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            if os.path.isfile(path):
                found.add(os.path.relpath(path, ROOT))
    return sorted(found)


def lines_outside_code(text):
    """Yields (line number, line) for the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        match = FENCE.match(line)
        if fence is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] \
                and len(match.group(1)) >= len(fence) and not match.group(2).strip():
            fence = None


def blank_code_spans(line):
    """The line with each inline code span's content replaced by spaces,
    so that nothing inside one is taken for a link (offsets are kept)."""
    return CODE_SPAN.sub(lambda m: m.group(1) + " " * len(m.group(2)) + m.group(1), line)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)   # links: their text
    text = HTML_TAG.sub("", text)
    text = re.sub(r"(\*\*|__|[*_~])(?=\S)(.+?)(?<=\S)\1", r"\2", text)  # emphasis
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


_anchor_cache = {}


def anchors(path):
    """Every anchor a Markdown file defines: its headings' slugs (with
    GitHub's -1, -2 suffixes for repeats) and explicit <a id/name>."""
    if path in _anchor_cache:
        return _anchor_cache[path]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    result = set()
    seen = {}
    previous = None  # the previous line, for setext headings

    def add(heading):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else "%s-%d" % (base, count))

    for _, line in lines_outside_code(text):
        for match in HTML_ANCHOR.finditer(line):
            result.add(match.group(1))
        atx = ATX.match(line)
        if atx:
            heading = re.sub(r"[ \t]+#+$", "", atx.group(2) or "")
            add(heading)
            previous = None
            continue
        if previous and previous.strip() and SETEXT.match(line) \
                and not ATX.match(previous) and not previous.startswith(("    ", "\t")) \
                and not re.match(r"^ {0,3}([-*+]|\d+[.)])\s", previous) \
                and not previous.lstrip().startswith("|"):
            add(previous.strip())
            previous = None
            continue
        previous = line
    _anchor_cache[path] = result
    return result


def targets(text):
    """Yields (line number, target) for every link in a page's text."""
    for number, line in lines_outside_code(text):
        line = blank_code_spans(line)
        definition = LINK_DEF.match(line)
        if definition:
            yield number, definition.group(1)
            continue
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)


def check(page):
    """Returns (links checked, [broken-link messages]) for one page."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    checked = 0
    broken = []
    for number, target in targets(text):
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1]
        if not target or SCHEME.match(target):
            continue
        checked += 1
        path, _, anchor = target.partition("#")
        path = urllib.parse.unquote(path)
        anchor = urllib.parse.unquote(anchor)
        if not path:
            resolved = os.path.join(ROOT, page)
        elif path.startswith("/"):
            resolved = os.path.join(ROOT, path.lstrip("/"))
        else:
            resolved = os.path.join(ROOT, os.path.dirname(page), path)
        resolved = os.path.normpath(resolved)
        where = "%s:%d: %s" % (page, number, target)
        if not os.path.exists(resolved):
            broken.append("%s: no such file (%s)" % (where, os.path.relpath(resolved, ROOT)))
            continue
        if not anchor:
            continue
        if not resolved.endswith(".md") or not os.path.isfile(resolved):
            broken.append("%s: an anchor on a file that is not Markdown" % where)
        elif anchor not in anchors(resolved):
            broken.append("%s: no heading or <a id> '%s' in %s"
                          % (where, anchor, os.path.relpath(resolved, ROOT)))
    return checked, broken


def main():
    total = 0
    broken = []
    for page in pages():
        checked, page_broken = check(page)
        total += checked
        broken.extend(page_broken)
    for message in broken:
        print(message)
    if broken:
        print("links: %d checked, %d broken" % (total, len(broken)))
        return 1
    print("links: %d checked, 0 broken" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
