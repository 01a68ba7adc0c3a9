import sys

if len(sys.argv) > 1 and sys.argv[1] == "soak":
    from bench.soak import main as soak_main

    sys.exit(soak_main(sys.argv[2:]))

from bench.run import main

sys.exit(main())
