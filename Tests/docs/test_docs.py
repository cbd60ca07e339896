"""The manual covers what the module has, and names nothing it lacks:

- every directive of the module's command tables (the AP_INIT_* entries in apache/*.c) has an
  entry in docs/directives.md, in Apache's format, and every entry there names such a directive
  (or one of Apache's own the entry explains, AddHandler/SetHandler);
- every WSGIDaemonProcess option of the option table (apache/swiftwsgi_daemon_options.c) has a
  row in that directive's option table, and every row names an option of the table;
- every log id (SWWnnnn: SWIFTWSGI_LOGNO(nnnn) in apache/*.c, SWWnnnn in Sources/) has an entry in
  docs/troubleshooting.md, and every entry there is an id the sources use.

Pure file checks: no Apache, no build. `make docs` checks that the site builds."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIRECTIVES_PAGE = os.path.join(ROOT, 'docs', 'directives.md')
TROUBLESHOOTING_PAGE = os.path.join(ROOT, 'docs', 'troubleshooting.md')
# Apache's own directives that an entry documents because of what this module does with them.
APACHE_OWN = {'AddHandler / SetHandler'}
FIELDS = ('Description', 'Syntax', 'Default', 'Context', 'Compatibility')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def module_directives():
    names = set()
    for path in glob.glob(os.path.join(ROOT, 'apache', '*.c')):
        for name in re.findall(r'AP_INIT_[A-Z0-9_]+\(\s*"([^"]+)"', read(path)):
            names.add(name + '>' if name.startswith('<') else name)
    return names


def directive_entries():
    """{heading: entry text} of docs/directives.md's "## " sections."""
    entries = {}
    parts = re.split(r'^## (.+)$', read(DIRECTIVES_PAGE), flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        entries[heading.strip().strip('`')] = body
    return entries


def test_every_directive_has_an_entry():
    entries = directive_entries()
    missing = sorted(module_directives() - set(entries))
    assert not missing, 'directives without an entry in docs/directives.md: %s' % missing


def test_every_entry_is_a_directive_of_the_module():
    unknown = sorted(set(directive_entries()) - module_directives() - APACHE_OWN)
    assert not unknown, 'docs/directives.md has entries for directives the module lacks: %s' % unknown


def test_entries_are_in_apaches_format():
    for name, body in directive_entries().items():
        fields = re.findall(r'^:([A-Za-z]+):', body, flags=re.M)
        for field in FIELDS:
            assert field in fields, '%s: no :%s: field' % (name, field)
        assert fields[:2] == ['Description', 'Syntax'], '%s: fields in the wrong order: %s' % (name, fields)
        assert '```' in body, '%s: no example' % name


def daemon_options():
    table = read(os.path.join(ROOT, 'apache', 'swiftwsgi_daemon_options.c'))
    table = table[table.index('options_table[]'):]
    table = table[:table.index('};')]
    return set(re.findall(r'\{\s*"([a-z-]+)"', table))


def documented_daemon_options():
    body = directive_entries()['WSGIDaemonProcess']
    names = set()
    for line in body.splitlines():
        if line.startswith('| `'):
            first = line.split('|')[1]
            names.update(re.findall(r'`([a-z-]+)=`', first))
    return names


def test_every_daemon_option_is_documented():
    options = daemon_options()
    assert len(options) > 30, 'the option table was not found: %s' % sorted(options)
    missing = sorted(options - documented_daemon_options())
    assert not missing, 'WSGIDaemonProcess options without a row in docs/directives.md: %s' % missing
    unknown = sorted(documented_daemon_options() - options)
    assert not unknown, 'docs/directives.md documents WSGIDaemonProcess options the module lacks: %s' % unknown


def source_log_ids():
    ids = set()
    for path in glob.glob(os.path.join(ROOT, 'apache', '*.c')):
        ids.update(re.findall(r'SWIFTWSGI_LOGNO\((\d{4})\)', read(path)))
    for pattern in ('**/*.swift', '**/*.c', '**/*.h'):
        for path in glob.glob(os.path.join(ROOT, 'Sources', pattern), recursive=True):
            ids.update(re.findall(r'\bSWW(\d{4})\b', read(path)))
    return {'SWW' + n for n in ids}


def documented_log_ids():
    return set(re.findall(r'^### (SWW\d{4})\s*$', read(TROUBLESHOOTING_PAGE), flags=re.M))


def test_every_log_id_has_an_entry():
    ids = source_log_ids()
    assert len(ids) > 20, 'the log ids were not found: %s' % sorted(ids)
    missing = sorted(ids - documented_log_ids())
    assert not missing, 'log ids without an entry in docs/troubleshooting.md: %s' % missing


def test_every_documented_log_id_is_used():
    unknown = sorted(documented_log_ids() - source_log_ids())
    assert not unknown, 'docs/troubleshooting.md has entries for ids no source uses: %s' % unknown


def test_log_id_entries_have_meaning_and_what_to_do():
    parts = re.split(r'^### (SWW\d{4})\s*$', read(TROUBLESHOOTING_PAGE), flags=re.M)
    for log_id, body in zip(parts[1::2], parts[2::2]):
        body = body.split('\n## ')[0]
        for field in ('Level', 'Message', 'Where'):
            assert ':%s:' % field in body, '%s: no :%s: field' % (log_id, field)
        assert '(%s)=' % log_id.lower() in read(TROUBLESHOOTING_PAGE), '%s: no label (%s)=' % (log_id, log_id.lower())
        assert re.search(r'What\s+to\s+do', body), '%s: no "What to do"' % log_id


def test_readme_stays_short():
    lines = read(os.path.join(ROOT, 'README.md')).count('\n')
    assert lines <= 250, 'README.md has %d lines: move the manual into docs/' % lines


def test_log_id_entries_name_the_file_that_logs_them():
    # A shim id's :Where: names each apache/ file that logs it (code moves between files);
    # every path given there exists.
    logged_in = {}
    for path in glob.glob(os.path.join(ROOT, 'apache', '*.c')):
        for n in re.findall(r'SWIFTWSGI_LOGNO\((\d{4})\)', read(path)):
            logged_in.setdefault('SWW' + n, set()).add(os.path.relpath(path, ROOT))
    parts = re.split(r'^### (SWW\d{4})\s*$', read(TROUBLESHOOTING_PAGE), flags=re.M)
    for log_id, body in zip(parts[1::2], parts[2::2]):
        where = re.search(r'^:Where: (.*)$', body, flags=re.M)
        assert where, '%s: no :Where: field' % log_id
        files = re.findall(r'`([^`\s]+/[^`\s]+\.(?:c|h|swift))`', where.group(1))
        for f in files:
            assert os.path.exists(os.path.join(ROOT, f)), '%s: :Where: names %s, which does not exist' % (log_id, f)
        if log_id in logged_in:
            assert logged_in[log_id] <= set(files), '%s: :Where: says %s; it is logged in %s' % (
                log_id, files, sorted(logged_in[log_id]))
