{#- Every declared archive is mounted read-only at its path, and checked to be a MetalK8s
    archive of the declared version before anything uses it. -#}
{%- from "metalk8s/map.jinja" import archives with context %}

{%- for env, archive in archives | dictsort %}

Mount point of {{ env }}:
  file.directory:
    - name: {{ archive.path }}
    - makedirs: true

  {%- if archive.iso %}

Archive {{ archive.iso }} mounted at {{ archive.path }}:
  mount.mounted:
    - name: {{ archive.path }}
    - device: {{ archive.iso }}
    - fstype: iso9660
    - mkmnt: false
    - opts:
      - ro
      - nofail
    - persist: true
    - match_on:
      - name
    - require:
      - file: Mount point of {{ env }}
    - require_in:
      - file: Product file of {{ env }}
  {%- endif %}

Product file of {{ env }}:
  file.exists:
    - name: {{ archive.path }}/product.txt

Archive {{ env }} is MetalK8s {{ archive.version }}:
  cmd.run:
    - name: >-
        grep -qx 'NAME=MetalK8s' {{ archive.path }}/product.txt &&
        grep -qx 'VERSION={{ archive.version }}' {{ archive.path }}/product.txt
    - unless: 'false'
    - require:
      - file: Product file of {{ env }}

{%- endfor %}
