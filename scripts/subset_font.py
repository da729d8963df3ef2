#!/usr/bin/python3
"""subset_font.py: the web app's Chinese glyphs, made at build time (build.sh build_web).

    scripts/subset_font.py FONT OUT_DIR SOURCE...

Collects every non-ASCII character of the Chinese strings in the SOURCEs (src/app/strings.cpp: the
rows between STRINGS-BEGIN and STRINGS-END; web/lesson.js: the zh texts), subsets FONT (a Debian
CJK font, e.g. fonts-wqy-microhei's wqy-microhei.ttc, face 0) to exactly those characters and
writes OUT_DIR/zh.ttf and OUT_DIR/zh.txt (the characters, UTF-8; the UI builds its glyph ranges
from it), and OUT_DIR/zh.json: the string table's rows as {English: Chinese}, for the page's plain
HTML (index.html's message for a browser the UI cannot run in, where the UI module and its table are
not there). Also checks the string table: every row's Chinese keeps the English's printf conversions
in the same order (the same conversion letters: %.0s may swallow an English plural's s), and no English key appears twice. Needs Debian's python3-fonttools.
"""
import json
import os
import re
import sys

from fontTools import subset
from fontTools.ttLib import TTFont

CONV = re.compile(r'%[-+ #0-9.*]*[a-zA-Z%]')
ROW = re.compile(r'\{\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\}')
ZH = re.compile(r"zh:\s*((?:'(?:[^'\\]|\\.)*'\s*\+?\s*)+)")


def unescape(s):
    return s.encode('latin-1', 'backslashreplace').decode('unicode_escape') if '\\' in s else s


def table_rows(text, path):
    if 'STRINGS-BEGIN' not in text:
        sys.exit(f'subset_font: {path} has no STRINGS-BEGIN')
    body = text.split('STRINGS-BEGIN', 1)[1].split('STRINGS-END', 1)[0]
    rows, seen, bad = [], set(), []
    for m in ROW.finditer(body):
        en, zh = m.group(1), m.group(2)
        if en in seen:
            bad.append(f'English key twice: "{en}"')
        seen.add(en)
        if [c[-1] for c in CONV.findall(en)] != [c[-1] for c in CONV.findall(zh)]:
            bad.append(f'conversions differ: "{en}" -> "{zh}"')
        rows.append((en, zh))
    if bad:
        sys.exit('subset_font: ' + path + ':\n  ' + '\n  '.join(bad))
    return [(unescape(en), unescape(zh)) for en, zh in rows]


def lesson_texts(text):
    out = []
    for m in ZH.finditer(text):
        out += [unescape(p) for p in re.findall(r"'((?:[^'\\]|\\.)*)'", m.group(1))]
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    font, out_dir, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    texts, table = [], {}
    for path in sources:
        text = open(path, encoding='utf-8').read()
        if path.endswith('.cpp'):
            rows = table_rows(text, path)
            table.update(rows)
            texts += [zh for _, zh in rows]
        else:
            texts += lesson_texts(text)
    chars = sorted({c for t in texts for c in t if ord(c) > 0x7e})
    if not chars:
        sys.exit('subset_font: no Chinese characters found in ' + ' '.join(sources))
    opts = subset.Options()
    opts.font_number = 0            # a .ttc: its first face
    opts.hinting = False            # stb_truetype does not hint
    opts.layout_features = []       # no shaping in Dear ImGui
    opts.name_IDs = [0, 1, 2, 3, 4, 5, 6]   # keep the copyright and the names
    opts.notdef_outline = True
    f = TTFont(font, fontNumber=0, lazy=False)
    sub = subset.Subsetter(opts)
    sub.populate(text=''.join(chars))
    sub.subset(f)
    cmap = f.getBestCmap()
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        sys.exit('subset_font: the font lacks ' + ''.join(missing))
    os.makedirs(out_dir, exist_ok=True)
    f.save(os.path.join(out_dir, 'zh.ttf'))
    with open(os.path.join(out_dir, 'zh.txt'), 'w', encoding='utf-8') as o:
        o.write(''.join(chars))
    with open(os.path.join(out_dir, 'zh.json'), 'w', encoding='utf-8') as o:
        json.dump(table, o, ensure_ascii=False, separators=(',', ':'))
    size = os.path.getsize(os.path.join(out_dir, 'zh.ttf'))
    print(f'subset_font: {len(chars)} characters, {out_dir}/zh.ttf {size} bytes')


if __name__ == '__main__':
    main()
