{#- The nginx static pod that serves every archive's packages and images to the cluster. -#}
{%- from "metalk8s/map.jinja" import repo, archives with context %}

include:
  - .configured

{#- The nginx image runs before any registry does: it comes from the archive's images/ as a tar
    (images.yaml `archive: true`), imported into the namespace kubelet uses. #}
{%- set archive = archives[saltenv] %}
{%- set nginx = 'docker.io/library/' ~ repo.nginx_image.name ~ ':' ~ repo.nginx_image.version %}

Import the {{ nginx }} image:
  cmd.run:
    - name: ctr --namespace k8s.io images import {{ archive.path }}/images/{{ repo.nginx_image.name }}-{{ repo.nginx_image.version }}.tar
    - unless: ctr --namespace k8s.io images ls --quiet | grep --quiet --line-regexp '{{ nginx }}'

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
      - cmd: Import the {{ nginx }} image
      - file: Repositories nginx configuration
      - file: Registry configuration of every archive
