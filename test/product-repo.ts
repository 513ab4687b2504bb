// The product source of the tests (test/product-source.ts), in temporary folders the tests remove.
import { tempDir } from './helpers.ts';
import { PRODUCT_FILES, buildBusyboxBase, productRepository, type ProductRepo } from './product-source.ts';

export { PRODUCT_CHART, PRODUCT_FILES, productImageDeclarations, type ProductRepo } from './product-source.ts';

export function productRepo(files: Record<string, string> = PRODUCT_FILES): ProductRepo {
  return productRepository(tempDir('mk8s-product-'), files);
}

/** The busybox image the operator's builder starts from in the tests. */
export function busyboxBuilderBase(): string {
  return buildBusyboxBase(tempDir('mk8s-busybox-'), 'localhost/mk8s-test-busybox:1');
}
