"""``python -m seizure_lightning +experiment=NAME [overrides]``."""

from seizure_lightning.app import main

if __name__ == "__main__":
    main()
