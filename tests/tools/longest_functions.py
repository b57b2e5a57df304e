#!/usr/bin/env python3
"""Code-shape lint: the longest function bodies of C/C++ sources, and file length limits.

Brace matching ignores braces in string and character literals and in comments. A function body
is a top-level brace block (at any indentation: methods inside classes and namespaces too) whose
opening brace follows a parameter list `)` (optionally followed by const/override/noexcept/an
initializer list). Lambdas and control blocks are counted inside their enclosing function.

Usage: longest_functions.py [--root DIR] [--exclude PATH]... [--max-lines N]
                            [--file-limit PATH:N]... [--top N] PATH...
Exit status 1 when a function exceeds --max-lines or a file exceeds its --file-limit.
"""
import argparse
import os
import re
import sys

EXTS = ('.c', '.cc', '.cpp', '.cxx', '.h', '.hh', '.hpp')


def strip_code(text):
    """Replaces comments and string/char literal contents with spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ''
        if c == '/' and nxt == '/':
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif c == '/' and nxt == '*':
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == 'R' and nxt == '"' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ')' + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c in '"\'':
            if c == "'" and i > 0 and (text[i - 1].isalnum()) and nxt.isalnum():
                out.append(c)  # digit separator 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(c + ' ' * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


HEAD_RE = re.compile(r'\)\s*(const\s*)?(noexcept\s*)?(override\s*)?(final\s*)?(->\s*[\w:<>,\s*&]+)?$')
CTRL = ('if', 'for', 'while', 'switch', 'catch')


def functions(path):
    text = open(path, encoding='utf-8', errors='replace').read()
    code = strip_code(text)
    res = []
    stack = []  # (kind, pos)
    for m in re.finditer(r'[{}]', code):
        pos = m.start()
        if m.group() == '{':
            in_func = any(t[0] == 'func' for t in stack)
            kind = 'block'
            if not in_func:
                head = code[max(0, pos - 2000):pos]
                # strip a constructor initializer list: ") : a_(x), b_(y) {"
                h = head.rstrip()
                init = re.search(r'\)\s*:\s*[\w:]+\s*[({][^;{}]*$', h)
                if init:
                    h = h[:init.start() + 1]
                if HEAD_RE.search(h):
                    # the name before the parameter list must not be a control keyword
                    depth, k = 0, len(h) - 1
                    while k >= 0:
                        if h[k] == ')':
                            depth += 1
                        elif h[k] == '(':
                            depth -= 1
                            if depth == 0:
                                break
                        k -= 1
                    name = re.search(r'([~\w:]+)\s*$', h[:max(k, 0)])
                    if name and name.group(1).split('::')[-1] not in CTRL:
                        kind = 'func'
                        stack.append(('func', pos, name.group(1)))
                        continue
            stack.append((kind, pos, ''))
        else:
            if not stack:
                continue
            top = stack.pop()
            if top[0] == 'func':
                start_line = code.count('\n', 0, top[1]) + 1
                end_line = code.count('\n', 0, pos) + 1
                res.append((end_line - start_line + 1, path, start_line, top[2]))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('paths', nargs='+')
    ap.add_argument('--root', default='.')
    ap.add_argument('--exclude', action='append', default=[])
    ap.add_argument('--max-lines', type=int, default=0)
    ap.add_argument('--file-limit', action='append', default=[])
    ap.add_argument('--top', type=int, default=10)
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    excl = [os.path.normpath(e) for e in a.exclude]
    files = []
    for p in a.paths:
        full = os.path.join(root, p)
        if os.path.isdir(full):
            for d, _, fs in os.walk(full):
                for f in sorted(fs):
                    if f.endswith(EXTS):
                        files.append(os.path.relpath(os.path.join(d, f), root))
        else:
            files.append(os.path.relpath(full, root))
    files = [f for f in sorted(files)
             if not any(os.path.normpath(f) == e or os.path.normpath(f).startswith(e + os.sep) for e in excl)]
    allf = []
    for f in files:
        allf += [(n, f, line, name) for n, _, line, name in functions(os.path.join(root, f))]
    allf.sort(key=lambda t: -t[0])
    print('longest functions (lines, file:line, name):')
    for n, f, line, name in allf[:a.top]:
        print('%5d  %s:%d  %s' % (n, f, line, name))
    bad = 0
    if a.max_lines:
        for n, f, line, name in allf:
            if n > a.max_lines:
                print('FAIL: %s:%d %s is %d lines (max %d)' % (f, line, name, n, a.max_lines))
                bad += 1
    for fl in a.file_limit:
        p, lim = fl.rsplit(':', 1)
        with open(os.path.join(root, p), encoding='utf-8', errors='replace') as fh:
            count = sum(1 for _ in fh)
        print('%s: %d lines (limit %s)' % (p, count, lim))
        if count > int(lim):
            print('FAIL: %s has %d lines (max %s)' % (p, count, lim))
            bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
