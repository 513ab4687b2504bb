{#- The nginx static pod that serves every archive's packages and images to the cluster. -#}
{%- from "metalk8s/map.jinja" import repo, archives with context %}

include:
  - .configured

Repositories static pod:
  file.managed:
    - name: /etc/kubernetes/manifests/repositories.yaml
    - source: salt://{{ slspath }}/files/repositories-manifest.yaml.j2
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: true
    - backup: false
    - defaults:
        image: {{ repo.nginx_image.name }}:{{ repo.nginx_image.version }}
        port: {{ repo.port }}
        config_directory: {{ repo.config.directory }}
        archives: {{ archives | tojson }}
    - require:
      - file: Repositories nginx configuration
      - file: Registry configuration of every archive
