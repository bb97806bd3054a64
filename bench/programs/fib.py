# The 32nd Fibonacci number, computed by naive recursion: 7,049,155 calls.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


print(fib(32))
