import Testing
@testable import PythonHost

/// The extension named in CPython's refusal to import a module into an interpreter with its
/// own GIL (the integration test, test_gil.py, covers the whole path with a real extension).
@Suite struct OwnGILTests {
    @Test func refusedExtensionIsNamed() {
        let traceback = """
        Traceback (most recent call last):
          File "/srv/app.wsgi", line 3, in <module>
            import singlephase
        ImportError: module singlephase does not support loading in subinterpreters
        """
        #expect(ApacheOps.extensionRefusedByOwnGIL(traceback) == "singlephase")
    }

    @Test func refusalFoundAsACause() {
        let traceback = """
        ImportError: module pkg._speedups does not support loading in subinterpreters

        The above exception was the direct cause of the following exception:

        RuntimeError: cannot start
        """
        #expect(ApacheOps.extensionRefusedByOwnGIL(traceback) == "pkg._speedups")
    }

    @Test func otherImportErrorsAreNotNamed() {
        #expect(ApacheOps.extensionRefusedByOwnGIL("ModuleNotFoundError: No module named 'x'") == nil)
        #expect(ApacheOps.extensionRefusedByOwnGIL("") == nil)
    }
}
