"""The engine benchmark's graph for doit (Debian's python3-doit): BENCH_TASKS tasks each
copying one file, and one aggregate task depending on every copy. Same graph as graph.ts."""
import os
import shutil

N = int(os.environ['BENCH_TASKS'])
NAMES = ['{:05d}'.format(i) for i in range(N)]

DOIT_CONFIG = {'default_tasks': ['aggregate'], 'verbosity': 0}


def _copy(source, target):
    os.makedirs('out', exist_ok=True)
    shutil.copyfile(source, target)


def task_copy():
    for name in NAMES:
        yield {
            'name': name,
            'file_dep': ['src/' + name],
            'targets': ['out/' + name],
            'actions': [(_copy, ['src/' + name, 'out/' + name])],
        }


def _aggregate():
    with open('all.txt', 'w') as handle:
        handle.write(str(N))


def task_aggregate():
    return {
        'file_dep': ['out/' + name for name in NAMES],
        'targets': ['all.txt'],
        'actions': [_aggregate],
    }
