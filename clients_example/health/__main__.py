from clients_example.common.serve import main
from clients_example.health import PORT, SPEC, create_app

raise SystemExit(main(SPEC.key, PORT, create_app))
