"""The leave-one-subject-out sweep: fold enumeration and the end-of-sweep report."""
