"""Copies the built libdwconv.so (`swift build -c release` at the repository root) into the package when it is
installed, so that `pip install ./Python/dwconv` gives a package that needs neither DWCONV_LIBRARY nor the
checkout. Without a build, the package is installed alone and finds the library at run time (see
dwconv._library)."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUILT = os.path.join(HERE, "..", "..", ".build", "release", "libdwconv.so")


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = os.environ.get("DWCONV_LIBRARY") or BUILT
        if os.path.exists(library):
            target = os.path.join(self.build_lib, "dwconv", "libdwconv.so")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(library, target)


setup(cmdclass={"build_py": BuildWithLibrary})
