"""The course autograder: isolated, tamper-resistant pytest grading with Gradescope results."""
