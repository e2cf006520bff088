"""Support for tests, benchmarks and load tests: never imported by production code, never shipped in an
image (setuptools packages only `contracts` and `services`; deploy/docker/Dockerfile copies only those two).
tests/architecture checks both."""
