"""Project-wide pytest settings for the harness's own tests and the suites.

The harness's pytest plugin (fixtures ``rig``, ``tokens``, ``oracle``, ``evidence``; options
``--rig``, ``--defect``, ``--clause``, ``--hil-journal``) is registered by the installed
package through its ``pytest11`` entry point: see hil/pytest_plugin.py.
"""

import os

try:  # hypothesis is a test extra; `hil run` on a plain install does not need it
    from hypothesis import settings
except ImportError:
    pass
else:
    # On a loaded CI runner a property test must not fail on wall-clock time alone.
    settings.register_profile("ci", deadline=None, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
