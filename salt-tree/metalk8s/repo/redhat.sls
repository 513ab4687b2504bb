{#- yum repositories of every mounted archive, served by the bootstrap node's nginx
    (or read from the mounted ISO directly while that nginx does not run yet). -#}
{%- from "metalk8s/map.jinja" import repo, archives with context %}
{%- set bootstrap = pillar.get('metalk8s', {}).get('endpoints', {}).get('repositories', {}) %}

Repositories yum variable:
  file.managed:
    - name: /etc/yum/vars/metalk8s_osmajorrelease
    - contents: {{ grains['osmajorrelease'] }}

{%- for env, archive in archives | dictsort %}
  {%- if bootstrap.get('ip') %}
    {%- set base = 'http://' ~ bootstrap.ip ~ ':' ~ repo.port ~ '/' ~ env ~ '/redhat' %}
  {%- else %}
    {%- set base = 'file://' ~ archive.path ~ '/' ~ repo.relative_path ~ '/redhat' %}
  {%- endif %}
  {%- for name, settings in repo.repositories | dictsort %}

Repository {{ name }} of {{ env }}:
  pkgrepo.managed:
    - name: {{ env }}-{{ name }}
    - humanname: {{ settings.humanname }} ({{ env }})
    - baseurl: {{ base }}/{{ name }}-el$metalk8s_osmajorrelease
    - gpgcheck: {{ settings.gpgcheck }}
    {%- if settings.gpgkeys > 0 %}
    - gpgkey: {% for n in range(1, settings.gpgkeys + 1) %}{{ base }}/{{ name }}-el$metalk8s_osmajorrelease/RPM-GPG-KEY-{{ name }}-7_{{ n }}{{ ' ' if not loop.last }}{% endfor %}
    {%- endif %}
    - repo_gpg_check: {{ settings.repo_gpg_check }}
    - enabled: {{ settings.enabled }}
    - refresh: false
    - require:
      - file: Repositories yum variable
    - onchanges_in:
      - cmd: Refresh the yum cache
  {%- endfor %}
{%- endfor %}

Refresh the yum cache:
  cmd.run:
    - name: yum clean expire-cache
