{#- Repositories of the archives: yum configuration for the node's OS family, then the nginx
    that serves packages and images from the bootstrap node. -#}
include:
  - .{{ grains['os_family'] | lower }}
  - .installed
