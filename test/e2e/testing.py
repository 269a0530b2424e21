"""The tiny test runner the unit-test scripts of this folder share.

Each script lists its test functions and calls run_tests(TESTS): every test
runs, a failure prints its traceback, and the summary line
"N passed, M failed" is what python-unit-tests.test checks.
"""

import traceback


def run_tests(tests):
    failed = 0
    for fn in tests:
        try:
            fn()
            print("PASS %s" % fn.__name__)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    return 1 if failed else 0
