"""The proxy's native core is optional: without a compiler the package installs without it
and the proxy runs its Python path (option core = auto)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "oslo_messaging_zmq._core",
            sources=["oslo_messaging_zmq/_core.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            libraries=["dl"],
            optional=True,
        )
    ]
)
