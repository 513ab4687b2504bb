{#- nginx configuration of the repositories: one server for packages and images, plus the
    registry locations generated at build time for each archive's images/. -#}
{%- from "metalk8s/map.jinja" import repo, archives with context %}

Repositories nginx configuration:
  file.managed:
    - name: {{ repo.config.directory }}/{{ repo.config.default }}
    - source: salt://{{ slspath }}/files/nginx.conf.j2
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - backup: false
    - defaults:
        listening_port: {{ repo.port }}
        config_directory: {{ repo.config.directory }}

Registry locations every server needs once (/v2/, JSON errors):
  file.managed:
    - name: {{ repo.config.directory }}/{{ repo.config.common_registry }}
    - source: salt://{{ slspath }}/files/metalk8s-registry-common.inc
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - backup: false

Registry configuration of every archive:
  file.managed:
    - name: {{ repo.config.directory }}/{{ repo.config.registry }}
    - source: salt://{{ slspath }}/files/metalk8s-registry-config.inc.j2
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - backup: false
    - defaults:
        archives: {{ archives | tojson }}

{%- for env, archive in archives | dictsort %}

Registry locations of {{ env }}:
  file.managed:
    - name: {{ repo.config.directory }}/99-{{ env }}-registry.inc
    - source: {{ archive.path }}/salt/metalk8s/repo/files/{{ env.split('-')[0] }}-registry.inc
    - skip_verify: true
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - backup: false
{%- endfor %}
