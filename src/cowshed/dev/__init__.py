"""Development services: a single-host Ceph cluster and the Ceph bindings installer."""
