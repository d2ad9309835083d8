"""Deployment files for a project and a system's fleet: an image, compose, Kubernetes.

:mod:`atoll.deploy.plan` reads a system into what each service needs to run alone;
:mod:`~atoll.deploy.image`, :mod:`~atoll.deploy.compose` and :mod:`~atoll.deploy.kubernetes`
write the files; ``atoll deploy`` is their command line.
"""
