{#- Once archives are mounted, the repositories that serve them are (re)configured. -#}
include:
  - metalk8s.repo.configured
